"""CRM events in: store once, fire matching rules, tell the contact's running sequences.

An event row is written (with its firings and the rules' `times_triggered`) in one
transaction keyed on the CRM's event id, so redeliveries and concurrent duplicates find it.
Workflows start after the commit; a redelivery starts any that a failed first attempt
didn't (starts are idempotent), so a CRM retrying on 503 loses nothing.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from anyio import to_thread
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from nudge.contracts import ContactEvent, FiringInput
from nudge.db import transaction
from nudge.errors import NotFound
from nudge.models import BatchStatus, Contact, CrmEvent, Rule, RuleFiring, TaskBatch, utcnow
from nudge.rule_tasks import event_context, timing
from nudge.starts import start_rule_firing
from nudge.triggers import matches


@dataclass
class EventSpec:
    event_id: str
    kind: str  # activity | status_change
    contact_id: int | None = None
    contact_external_id: str | None = None
    activity_type: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    occurred_at: datetime | None = None


@dataclass
class Firing:
    id: int
    rule_id: int | None
    rule_name: str
    workflow_id: str
    state: str
    reason: str | None
    task_id: int | None
    contact_id: int | None
    create_at: datetime
    due_at: datetime
    created_at: datetime


@dataclass
class EventResult:
    event_id: str
    contact_id: int | None
    kind: str
    owner_id: int
    duplicate: bool
    firings: list[Firing]
    sequences_signalled: list[str]


def _contact(session: Session, owner_id: int, spec: EventSpec) -> Contact:
    where = (
        Contact.id == spec.contact_id
        if spec.contact_id is not None
        else Contact.external_id == spec.contact_external_id
    )
    contact = session.scalar(select(Contact).where(Contact.owner_id == owner_id, where))
    if contact is None:
        ref = spec.contact_id if spec.contact_id is not None else repr(spec.contact_external_id)
        raise NotFound(f"contact {ref} not found (create it with POST /api/contacts/)")
    return contact


def _firings(session: Session, event: CrmEvent) -> list[Firing]:
    rows = session.execute(
        select(RuleFiring, Rule.name)
        .outerjoin(Rule, Rule.id == RuleFiring.rule_id)
        .where(RuleFiring.event_row_id == event.id)
        .order_by(RuleFiring.id)
    )
    return [
        Firing(
            f.id,
            f.rule_id,
            name or "(deleted rule)",
            f.workflow_id,
            f.state,
            f.reason,
            f.task_id,
            f.contact_id,
            f.create_at,
            f.due_at,
            f.created_at,
        )
        for f, name in rows
    ]


def _store(sessions: sessionmaker[Session], owner_id: int, spec: EventSpec) -> EventResult:
    try:
        with transaction(sessions) as session:
            contact = _contact(session, owner_id, spec)
            old, new = spec.old_status, spec.new_status
            if spec.kind == "status_change":
                old = old or contact.status
                contact.status = new or contact.status
            event = CrmEvent(
                owner_id=owner_id,
                event_id=spec.event_id,
                contact_id=contact.id,
                kind=spec.kind,
                activity_type=spec.activity_type,
                old_status=old,
                new_status=new,
                occurred_at=spec.occurred_at or utcnow(),
            )
            session.add(event)
            session.flush()  # a duplicate event id fails here, before anything else
            rules = session.scalars(
                select(Rule).where(
                    Rule.owner_id == owner_id,
                    Rule.is_active.is_(True),
                    Rule.trigger_type == spec.kind,
                )
            )
            context = event_context(
                contact, activity_type=spec.activity_type, old_status=old, new_status=new
            )
            for rule in rules:
                if not matches(
                    rule.trigger_type,
                    rule.trigger_config,
                    activity_type=spec.activity_type,
                    old_status=old,
                    new_status=new,
                ):
                    continue
                create_at, due_at, _ = timing(rule, event.occurred_at)
                session.add(
                    RuleFiring(
                        owner_id=owner_id,
                        rule_id=rule.id,
                        event_row_id=event.id,
                        contact_id=contact.id,
                        workflow_id=f"rule-{rule.id}-{event.id}",
                        create_at=create_at,
                        due_at=due_at,
                        context=context,
                    )
                )
                session.execute(
                    update(Rule)
                    .where(Rule.id == rule.id)
                    .values(times_triggered=Rule.times_triggered + 1)
                )
            session.flush()
            return _result(session, event, owner_id, duplicate=False)
    except IntegrityError:
        with sessions() as session:
            event = session.scalar(
                select(CrmEvent).where(
                    CrmEvent.owner_id == owner_id, CrmEvent.event_id == spec.event_id
                )
            )
            if event is None:
                raise
            return _result(session, event, owner_id, duplicate=True)


def _result(session: Session, event: CrmEvent, owner_id: int, *, duplicate: bool) -> EventResult:
    return EventResult(
        event.event_id,
        event.contact_id,
        event.kind,
        owner_id,
        duplicate,
        _firings(session, event),
        [],
    )


def _running_sequences(
    sessions: sessionmaker[Session], owner_id: int, contact_id: int
) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(TaskBatch.workflow_id).where(
                    TaskBatch.owner_id == owner_id,
                    TaskBatch.contact_id == contact_id,
                    TaskBatch.kind == "sequence",
                    TaskBatch.status == BatchStatus.running,
                )
            )
        )


async def tell_sequences(
    client: Client,
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    event: ContactEvent,
) -> list[str]:
    """Signal the contact's running sequences; one that just ended is no error."""
    told = []
    for workflow_id in await to_thread.run_sync(_running_sequences, sessions, owner_id, contact_id):
        try:
            await client.get_workflow_handle(workflow_id).signal("contact_event", event)
            told.append(workflow_id)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return told


async def receive_event(
    client: Client, sessions: sessionmaker[Session], task_queue: str, owner_id: int, spec: EventSpec
) -> EventResult:
    result = await to_thread.run_sync(_store, sessions, owner_id, spec)
    pending = [f for f in result.firings if f.state == "scheduled" and f.rule_id and f.contact_id]
    await asyncio.gather(
        *(
            start_rule_firing(
                client,
                task_queue,
                FiringInput(
                    firing_id=f.id,
                    rule_id=f.rule_id,  # type: ignore[arg-type]
                    owner_id=owner_id,
                    contact_id=f.contact_id,  # type: ignore[arg-type]
                    create_at=f.create_at,
                    due_at=f.due_at,
                ),
                f.workflow_id,
                f.rule_name,
            )
            for f in pending
        )
    )
    if not result.duplicate and result.contact_id is not None:
        result.sequences_signalled = await tell_sequences(
            client,
            sessions,
            owner_id,
            result.contact_id,
            ContactEvent(type=spec.activity_type or "status_change", status=spec.new_status),
        )
    return result
