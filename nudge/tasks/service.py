"""Tasks through the API: one made by hand (through the one writer), completing one."""

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nudge.contacts.lookup import owned_contact
from nudge.core.errors import Conflict, NotFound
from nudge.core.ids import manual_key
from nudge.core.models import Task, utcnow
from nudge.core.vocabulary import MANUAL_SOURCE
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.tasks.payloads import NewTask
from nudge.tasks.schemas import TaskIn
from nudge.tasks.writer import write_task_once


def owned_task(session: Session, owner_id: int, task_id: int) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner_id))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def create_manual_task(sessions: sessionmaker[Session], owner_id: int, body: TaskIn) -> Task:
    """A task made by hand. Its reminder, if any, goes out with the reminder sweep."""
    if body.contact_id is not None:
        with sessions() as session:
            owned_contact(session, owner_id, contact_id=body.contact_id)
    reminder = (
        body.due_at - timedelta(hours=body.reminder_offset_hours)
        if body.reminder_offset_hours is not None
        else None
    )
    written = write_task_once(
        sessions,
        NewTask(
            idempotency_key=manual_key(str(uuid.uuid4())),
            owner_id=owner_id,
            contact_id=body.contact_id,
            source=MANUAL_SOURCE,
            title=body.title,
            description=body.description,
            priority=body.priority,
            due_at=body.due_at,
            reminder_at=reminder,
        ),
    )
    with sessions() as session:
        return owned_task(session, owner_id, written.task_id)


def complete_task(
    sessions: sessionmaker[Session], owner_id: int, task_id: int
) -> tuple[Task, bool]:
    """Mark it done (again is a no-op); True when a pending reminder should be cancelled."""
    with transaction(sessions) as session:
        task = owned_task(session, owner_id, task_id)
        if task.status == "cancelled":
            raise Conflict(f"task {task_id} was cancelled; a cancelled task can't be completed")
        had_reminder = task.status == "open" and task.reminder_status == "scheduled"
        if task.status == "open":
            task.status, task.completed_at = "completed", utcnow()
            task.hours_to_complete = (task.completed_at - task.created_at) / timedelta(hours=1)
        if had_reminder:
            task.reminder_status = "skipped"
            task.reminder_detail = "task completed before its reminder"
    if had_reminder:  # settled here (committed); the reminder workflow finds it skipped
        metrics.REMINDERS.labels("skipped").inc()
    return task, had_reminder
