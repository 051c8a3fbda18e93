"""Tasks Nudge created: list them with filters, complete them."""

import contextlib
import uuid
from datetime import timedelta

from anyio import to_thread
from fastapi import APIRouter
from sqlalchemy import select
from temporalio.service import RPCError

from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep
from api.pagination import equal_to, page
from api.params import IdPath, Limit, Offset, OptionalId, OptionalTime
from nudge.db import transaction
from nudge.errors import Conflict, ContactNotFound, NotFound
from nudge.models import Contact, Task, TaskStatus, utcnow
from nudge.schemas import Page, TaskIn, TaskOut
from nudge.schemas import TaskStatus as TaskStatusName
from workflows.reminder import reminder_workflow_id

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("/", response_model=Page[TaskOut])
def list_tasks(
    owner: OwnerDep,
    session: SessionDep,
    contact_id: OptionalId = None,
    status: TaskStatusName | None = None,
    due_before: OptionalTime = None,
    due_after: OptionalTime = None,
    batch_id: OptionalId = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Your tasks, soonest due first; `due_before` is exclusive, `due_after` inclusive."""
    where = equal_to(
        Task, owner_id=owner.id, contact_id=contact_id, status=status, batch_id=batch_id
    )
    if due_before is not None:
        where.append(Task.due_at < due_before)
    if due_after is not None:
        where.append(Task.due_at >= due_after)
    items, total = page(session, Task, where, [Task.due_at, Task.id], limit, offset)
    return {"items": items, "total": total}


def _owned_task(session: SessionDep, owner_id: int, task_id: int) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner_id))
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


@router.post("/", response_model=TaskOut, status_code=201, responses={404: {}})
def create_task(body: TaskIn, owner: OwnerDep, session: SessionDep) -> Task:
    """A task made by hand. With `reminder_offset_hours` its reminder is delivered by the
    reminder sweep (every 15 minutes) once due, exactly once."""
    if body.contact_id is not None and not session.scalar(
        select(Contact.id).where(Contact.id == body.contact_id, Contact.owner_id == owner.id)
    ):
        raise ContactNotFound(body.contact_id)
    reminder = (
        body.due_at - timedelta(hours=body.reminder_offset_hours)
        if body.reminder_offset_hours is not None
        else None
    )
    task = Task(
        owner_id=owner.id,
        contact_id=body.contact_id,
        title=body.title,
        description=body.description,
        priority=body.priority,
        due_at=body.due_at,
        reminder_at=reminder,
        reminder_status="scheduled" if reminder else "none",
        source="api",
        idempotency_key=f"api-{uuid.uuid4()}",
    )
    session.add(task)
    session.commit()
    return task


@router.get("/{task_id}/", response_model=TaskOut, responses={404: {}})
def get_task(task_id: IdPath, owner: OwnerDep, session: SessionDep) -> Task:
    return _owned_task(session, owner.id, task_id)


@router.post("/{task_id}/complete/", response_model=TaskOut, responses={404: {}, 409: {}})
async def complete_task(
    task_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Task:
    """Mark a task done; its pending reminder is cancelled. Completing it again changes
    nothing and answers the same."""

    def complete() -> tuple[Task, bool]:
        with transaction(sessions) as session:
            task = _owned_task(session, owner.id, task_id)
            if task.status == TaskStatus.cancelled:
                raise Conflict(f"task {task_id} was cancelled; a cancelled task can't be completed")
            had_reminder = task.status == TaskStatus.open and task.reminder_status == "scheduled"
            if task.status == TaskStatus.open:
                task.status, task.completed_at = TaskStatus.completed, utcnow()
                task.hours_to_complete = (task.completed_at - task.created_at) / timedelta(hours=1)
            if had_reminder:
                task.reminder_status = "skipped"
                task.reminder_detail = "task completed before its reminder"
            return task, had_reminder

    task, had_reminder = await to_thread.run_sync(complete)
    if had_reminder:
        # Best effort: the reminder also checks the task at fire time and skips a done one.
        with contextlib.suppress(RPCError, RuntimeError):
            await client.get_workflow_handle(reminder_workflow_id(task_id)).cancel()
    return task
