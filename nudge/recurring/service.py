"""Starting, reshaping and stopping a contact's recurring check-ins (API and reconcile)."""

import asyncio
from typing import Final

from anyio import to_thread
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from nudge.calendar.snapshots import calendar_snapshot
from nudge.calendar.timing import DEFAULT_CALENDAR, CalendarSnapshot
from nudge.contacts.lookup import owned_contact
from nudge.core.errors import NotFound
from nudge.core.ids import recurring_workflow_id
from nudge.core.models import Calendar, Contact, utcnow
from nudge.core.vocabulary import Cadence, Placement
from nudge.platform.db import transaction
from nudge.platform.temporal import not_found
from nudge.recurring.payloads import RecurringInput, RecurringProgress, TaskTemplate
from nudge.recurring.starts import (
    query_recurring,
    start_or_reshape_recurring,
    stop_recurring_workflow,
)

PLACED_WAIT_TRIES: Final = 60  # 3 s


def _set_cadence(
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    cadence: Cadence | None,
    placement: Placement | None = None,
) -> tuple[str, Placement, CalendarSnapshot | None]:
    """The contact's name, its cadence's placement (None: keep the stored one) and the
    calendar a placed cadence starts with."""
    with transaction(sessions) as session:
        contact = owned_contact(session, owner_id, contact_id=contact_id)
        placement = placement or contact.cadence_placement or "anytime"
        session.execute(
            update(Contact)
            .where(Contact.id == contact_id)
            .values(cadence=cadence, cadence_placement=placement if cadence else None)
        )
        placed = placement != "anytime"
        calendar = calendar_snapshot(session, owner_id, utcnow()) if placed else None
        return contact.name, placement, calendar


async def schedule_recurring(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    owner_id: int,
    contact_id: int,
    cadence: Cadence,
    template: TaskTemplate | None,
    placement: Placement | None = None,
) -> RecurringProgress:
    """Record the contact's cadence, then start or reshape its one recurring workflow
    (`placement` None keeps the one the contact's cadence has)."""
    name, placement, calendar = await to_thread.run_sync(
        _set_cadence, sessions, owner_id, contact_id, cadence, placement
    )
    inp = RecurringInput(
        owner_id=owner_id,
        contact_id=contact_id,
        cadence=cadence,
        template=template or TaskTemplate(),
        placement=placement,
        calendar=calendar,
    )
    handle = await start_or_reshape_recurring(
        client, task_queue, inp, name, keep_template=template is None
    )
    progress = await query_recurring(client, handle.id)
    # A placed check-in's due time is the workflow's first activity: answer with it.
    for _ in range(PLACED_WAIT_TRIES):
        if progress.placed or progress.state != "running":
            break
        await asyncio.sleep(0.05)
        progress = await query_recurring(client, handle.id)
    return progress


async def recurring_progress(client: Client, owner_id: int, contact_id: int) -> RecurringProgress:
    try:
        return await query_recurring(client, recurring_workflow_id(owner_id, contact_id))
    except RPCError as err:
        if not_found(err):
            raise NotFound(f"contact {contact_id} has no recurring check-ins") from None
        raise


async def stop_recurring(
    client: Client, sessions: sessionmaker[Session], owner_id: int, contact_id: int, reason: str
) -> None:
    """Clear the contact's cadence and stop its workflow (already stopped is fine)."""
    await to_thread.run_sync(_set_cadence, sessions, owner_id, contact_id, None)
    await stop_recurring_workflow(client, recurring_workflow_id(owner_id, contact_id), reason)


def zones(
    sessions: sessionmaker[Session], owner_id: int, contact_id: int
) -> tuple[str, str | None]:
    """The owner's calendar zone and the contact's (None: unknown), to show a due time in."""
    with sessions() as session:
        calendar = session.get(Calendar, owner_id)
        contact = session.get(Contact, contact_id)
        zone = contact.timezone if contact is not None and contact.owner_id == owner_id else None
        return (calendar.timezone if calendar else DEFAULT_CALENDAR.timezone), zone
