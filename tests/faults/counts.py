"""What the fault tests count once the dust settles: tasks, contacts with a task, and events
still waiting to be processed, for one owner."""

import asyncio

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import CrmEvent, Task


def _counts(sessions: sessionmaker[Session], owner_id: int) -> tuple[int, int, int]:
    with sessions() as session:
        tasks = session.scalar(select(func.count()).where(Task.owner_id == owner_id))
        with_tasks = session.scalar(
            select(func.count(func.distinct(Task.contact_id))).where(Task.owner_id == owner_id)
        )
        unprocessed = session.scalar(
            select(func.count()).where(
                CrmEvent.owner_id == owner_id, CrmEvent.processed_at.is_(None)
            )
        )
        return tasks or 0, with_tasks or 0, unprocessed or 0


async def event_counts(sessions: sessionmaker[Session], owner_id: int) -> tuple[int, int, int]:
    """(tasks, contacts with a task, unprocessed events) of `owner_id`."""
    return await asyncio.to_thread(_counts, sessions, owner_id)
