"""Tasks through the API: one made by hand (through the one writer), completing, cancelling
or rescheduling one (each change with its task event in the same transaction)."""

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from nudge.contacts.lookup import owned_contact
from nudge.core.errors import Conflict, NotFound
from nudge.core.ids import manual_key
from nudge.core.models import Task, utcnow
from nudge.core.vocabulary import MANUAL_SOURCE
from nudge.integrations.outbox import task_event
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.tasks.payloads import NewTask
from nudge.tasks.schemas import TaskIn, TaskPatch
from nudge.tasks.writer import write_task_once


def owned_task(session: Session, owner_id: int, task_id: int) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner_id))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def locked_task(session: Session, owner_id: int, task_id: int) -> Task:
    """The task, read under its row's write lock: a no-op UPDATE first (PostgreSQL holds the
    row until commit; SQLite's driver takes its write lock only at the first write), so two
    concurrent changes of one task see each other, and their events are in commit order."""
    session.execute(
        update(Task).where(Task.id == task_id, Task.owner_id == owner_id).values(status=Task.status)
    )
    task = session.scalar(
        select(Task)
        .where(Task.id == task_id, Task.owner_id == owner_id)
        .execution_options(populate_existing=True)
    )
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
        task = locked_task(session, owner_id, task_id)
        if task.status == "cancelled":
            raise Conflict(f"task {task_id} was cancelled; a cancelled task can't be completed")
        had_reminder = task.status == "open" and task.reminder_status == "scheduled"
        completed = False
        if task.status == "open":
            task.status, task.completed_at = "completed", utcnow()
            task.hours_to_complete = (task.completed_at - task.created_at) / timedelta(hours=1)
            completed = True
        if had_reminder:
            task.reminder_status = "skipped"
            task.reminder_detail = "task completed before its reminder"
        if completed:
            task_event(session, task, "task.completed")
    if had_reminder:  # settled here (committed); the reminder workflow finds it skipped
        metrics.REMINDERS.labels("skipped").inc()
    return task, had_reminder


def cancel_task(sessions: sessionmaker[Session], owner_id: int, task_id: int) -> tuple[Task, bool]:
    """Cancel an open task (again is a no-op); True when a pending reminder should be
    cancelled. A completed task can't be cancelled (409)."""
    with transaction(sessions) as session:
        task = locked_task(session, owner_id, task_id)
        if task.status == "completed":
            raise Conflict(f"task {task_id} was completed; a completed task can't be cancelled")
        had_reminder = task.status == "open" and task.reminder_status == "scheduled"
        if task.status == "open":
            task.status = "cancelled"
            if had_reminder:
                task.reminder_status = "skipped"
                task.reminder_detail = "task cancelled before its reminder"
            task_event(session, task, "task.cancelled")
    if had_reminder:
        metrics.REMINDERS.labels("skipped").inc()
    return task, had_reminder


def update_task(
    sessions: sessionmaker[Session], owner_id: int, task_id: int, body: TaskPatch
) -> Task:
    """A new due time or priority for an open task (a task.updated event when one changed).
    A reminder keeps its offset before the due time; one already delivered stays so."""
    with transaction(sessions) as session:
        task = locked_task(session, owner_id, task_id)
        if task.status != "open":
            raise Conflict(f"task {task_id} is {task.status}; only an open task can change")
        changed = False
        if body.priority is not None and body.priority != task.priority:
            task.priority, changed = body.priority, True
        if body.due_at is not None and body.due_at != task.due_at:
            if task.reminder_at is not None and task.reminder_status == "scheduled":
                task.reminder_at = task.reminder_at + (body.due_at - task.due_at)
            task.due_at, changed = body.due_at, True
        if changed:
            task_event(session, task, "task.updated")
        return task
