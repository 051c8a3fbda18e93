"""Tasks Nudge created: list them with filters; complete, cancel or reschedule one."""

from anyio import to_thread
from fastapi import APIRouter

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep
from api.params import IdPath, Limit, Offset, OptionalId, OptionalTime
from nudge.core.models import Task
from nudge.core.types import Page
from nudge.core.vocabulary import TaskStatus
from nudge.platform.listing import equal_to, page
from nudge.reminders.starts import cancel_reminder
from nudge.sequences.control import task_done
from nudge.tasks.schemas import TaskIn, TaskOut, TaskPatch
from nudge.tasks.service import cancel_task as mark_cancelled
from nudge.tasks.service import complete_task as mark_completed
from nudge.tasks.service import create_manual_task, owned_task
from nudge.tasks.service import update_task as change_task

router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=JsonBoundaryRoute)


@router.get("/", response_model=Page[TaskOut])
def list_tasks(
    owner: OwnerDep,
    session: SessionDep,
    contact_id: OptionalId = None,
    status: TaskStatus | None = None,
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


@router.post("/", response_model=TaskOut, status_code=201, responses={404: {}})
async def create_task(body: TaskIn, owner: OwnerDep, sessions: SessionsDep) -> Task:
    """A task made by hand. With `reminder_offset_hours` its reminder is delivered by the
    reminder sweep (every 15 minutes) once due, exactly once."""
    return await to_thread.run_sync(create_manual_task, sessions, owner.id, body)


@router.get("/{task_id}/", response_model=TaskOut, responses={404: {}})
def get_task(task_id: IdPath, owner: OwnerDep, session: SessionDep) -> Task:
    return owned_task(session, owner.id, task_id)


@router.post("/{task_id}/complete/", response_model=TaskOut, responses={404: {}, 409: {}})
async def complete_task(
    task_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Task:
    """Mark a task done; its pending reminder is cancelled, and a custom sequence step that
    waits for this completion (anchor previous_completed) starts its wait. Completing it
    again changes nothing and answers the same."""
    task, had_reminder = await to_thread.run_sync(mark_completed, sessions, owner.id, task_id)
    if had_reminder:
        await cancel_reminder(client, task_id)
    await task_done(client, task)
    return task


@router.post("/{task_id}/cancel/", response_model=TaskOut, responses={404: {}, 409: {}})
async def cancel_task(
    task_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Task:
    """Cancel an open task; its pending reminder is cancelled. Cancelling it again changes
    nothing; a completed task can't be cancelled (409)."""
    task, had_reminder = await to_thread.run_sync(mark_cancelled, sessions, owner.id, task_id)
    if had_reminder:
        await cancel_reminder(client, task_id)
    return task


@router.patch("/{task_id}/", response_model=TaskOut, responses={404: {}, 409: {}})
async def update_task(
    task_id: IdPath, body: TaskPatch, owner: OwnerDep, sessions: SessionsDep
) -> Task:
    """Reschedule or reprioritise an open task (`due_at`, `priority`): subscribers get a
    task.updated event; a scheduled reminder keeps its offset before the due time."""
    return await to_thread.run_sync(change_task, sessions, owner.id, task_id, body)
