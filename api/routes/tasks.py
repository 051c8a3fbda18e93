"""Tasks Nudge created: list them with filters, complete them."""

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import OwnerDep, SessionDep
from api.pagination import page
from api.params import IdPath, Limit, Offset, OptionalId, OptionalTime
from nudge.errors import Conflict, NotFound
from nudge.models import Task, TaskStatus, utcnow
from nudge.schemas import Page, TaskOut
from nudge.schemas import TaskStatus as TaskStatusName

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
    where = [Task.owner_id == owner.id]
    if contact_id is not None:
        where.append(Task.contact_id == contact_id)
    if status is not None:
        where.append(Task.status == status)
    if batch_id is not None:
        where.append(Task.batch_id == batch_id)
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


@router.get("/{task_id}/", response_model=TaskOut, responses={404: {}})
def get_task(task_id: IdPath, owner: OwnerDep, session: SessionDep) -> Task:
    return _owned_task(session, owner.id, task_id)


@router.post("/{task_id}/complete/", response_model=TaskOut, responses={404: {}, 409: {}})
def complete_task(task_id: IdPath, owner: OwnerDep, session: SessionDep) -> Task:
    """Mark a task done. Completing it again changes nothing and answers the same."""
    task = _owned_task(session, owner.id, task_id)
    if task.status == TaskStatus.cancelled:
        raise Conflict(f"task {task_id} was cancelled; a cancelled task can't be completed")
    if task.status == TaskStatus.open:
        task.status = TaskStatus.completed
        task.completed_at = utcnow()
        session.commit()
    return task
