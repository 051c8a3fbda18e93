"""A calendar change applied to running workflows (`apply_to_running: future_steps`): each
running sequence enrollment, cadence and campaign enrollment of the owner gets an
`adopt_calendar` signal (never a restart) and places its next due times by it."""

import asyncio
from datetime import UTC, datetime
from typing import Final

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.calendar.payloads import CalendarChange
from nudge.calendar.timing import CalendarSnapshot
from nudge.core.ids import recurring_workflow_id
from nudge.core.models import Contact, TaskBatch
from nudge.platform.temporal import delivered

IN_FLIGHT: Final = 20  # signals at once
SIGNAL: Final = "adopt_calendar"


def running_workflows(session: Session, owner_id: int) -> list[str]:
    """The owner's running workflows that place due times: custom sequence enrollments and
    campaign enrollments (their batches), and cadences (contacts that have one). Preset
    sequences are left out: their steps are always `anytime`."""
    batches = session.scalars(
        select(TaskBatch.workflow_id).where(
            TaskBatch.owner_id == owner_id,
            TaskBatch.status == "running",
            TaskBatch.kind.in_(("sequence", "campaign")),
        )
    )
    ids = [w for w in batches if not w.startswith("sequence-") or "-def-" in w]
    contacts = session.scalars(
        select(Contact.id).where(Contact.owner_id == owner_id, Contact.cadence.is_not(None))
    )
    return ids + [recurring_workflow_id(owner_id, c) for c in contacts]


def _running(sessions: sessionmaker[Session], owner_id: int) -> list[str]:
    with sessions() as session:
        return running_workflows(session, owner_id)


async def adopt_calendar_everywhere(
    client: Client,
    sessions: sessionmaker[Session],
    owner_id: int,
    calendar: CalendarSnapshot,
    revision: datetime | None = None,
) -> int:
    """How many running workflows were told (one that ended meanwhile is not counted).
    `revision` is when the calendar was saved: a workflow ignores a change older than the
    one it has."""
    ids = await to_thread.run_sync(_running, sessions, owner_id)
    at = revision or datetime.now(UTC)
    change = CalendarChange(calendar=calendar, revision=at.timestamp())
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def tell(workflow_id: str) -> bool:
        async with gate:
            return await delivered(client.get_workflow_handle(workflow_id).signal(SIGNAL, change))

    return sum(await asyncio.gather(*(tell(w) for w in ids)))
