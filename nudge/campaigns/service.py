"""Campaigns: steps in order, and enrolling contacts (one workflow per campaign and contact)."""

import asyncio
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.calendar.snapshots import calendar_snapshot
from nudge.campaigns.payloads import EnrollmentInput
from nudge.campaigns.starts import start_enrollment
from nudge.campaigns.steps import step_specs
from nudge.core.errors import NotFound
from nudge.core.ids import campaign_workflow_id
from nudge.core.models import Campaign, Contact, Enrollment, TaskBatch, utcnow
from nudge.platform.db import transaction


@dataclass
class Enrolled:
    contact_id: int
    workflow_id: str
    batch_id: int
    created: bool
    inp: EnrollmentInput


def owned_campaign(session: Session, owner_id: int, campaign_id: int) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.owner_id == owner_id)
    )
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _enroll_rows(
    sessions: sessionmaker[Session], owner_id: int, campaign_id: int, contact_ids: list[int]
) -> list[Enrolled]:
    with sessions() as session:
        campaign = owned_campaign(session, owner_id, campaign_id)
        steps = step_specs(session, campaign_id)
        calendar = None
        if campaign.placement != "anytime":
            calendar = calendar_snapshot(session, owner_id, utcnow())
        found = set(
            session.scalars(
                select(Contact.id).where(Contact.owner_id == owner_id, Contact.id.in_(contact_ids))
            )
        )
    missing = sorted(set(contact_ids) - found)
    if missing:
        raise NotFound(f"contacts not found: {', '.join(map(str, missing))}; nobody was enrolled")
    planned = sum(s.message_type == "task" for s in steps)
    out = []
    for contact_id in dict.fromkeys(contact_ids):
        workflow_id = campaign_workflow_id(campaign_id, contact_id)
        try:
            with transaction(sessions) as session:
                batch = TaskBatch(owner_id=owner_id, kind="campaign", name=campaign.name,
                                  contact_id=contact_id, workflow_id=workflow_id, planned=planned,
                                  params={"campaign_id": campaign_id})  # fmt: skip
                session.add(batch)
                session.flush()
                row = Enrollment(owner_id=owner_id, campaign_id=campaign_id, contact_id=contact_id,
                                 batch_id=batch.id, workflow_id=workflow_id)  # fmt: skip
                session.add(row)
                session.flush()
                created, enrollment_id, batch_id = True, row.id, batch.id
        except IntegrityError:  # already enrolled: that enrollment is the answer
            with sessions() as session:
                existing = session.scalar(
                    select(Enrollment).where(
                        Enrollment.campaign_id == campaign_id, Enrollment.contact_id == contact_id
                    )
                )
                assert existing is not None
                created, enrollment_id, batch_id = False, existing.id, existing.batch_id
        inp = EnrollmentInput(
            owner_id=owner_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            enrollment_id=enrollment_id,
            batch_id=batch_id,
            steps=steps,
            placement=campaign.placement,
            calendar=calendar,
        )
        out.append(Enrolled(contact_id, workflow_id, batch_id, created, inp))
    return out


async def enroll(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    owner_id: int,
    campaign_id: int,
    contact_ids: list[int],
) -> list[Enrolled]:
    """Rows first (one enrollment per contact, ever), then idempotent starts: repeating the
    request, e.g. after a 503, enrolls nobody twice and starts whatever didn't start."""
    enrolled = await to_thread.run_sync(_enroll_rows, sessions, owner_id, campaign_id, contact_ids)
    await asyncio.gather(*(start_enrollment(client, task_queue, e.inp) for e in enrolled))
    return enrolled
