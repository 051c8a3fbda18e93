"""Where a sequence stands: live from the workflow, else from its result or our rows."""

from datetime import datetime

from anyio import to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from nudge.core.errors import NotFound
from nudge.core.ids import DEFINED_STEP_KEY
from nudge.core.models import Task, TaskBatch
from nudge.sequences.payloads import PlannedStep, SequenceInput, SequenceProgress, from_defined
from nudge.sequences.presets import sequence_due_times
from nudge.sequences.starts import defined_handle, query_defined, query_sequence, sequence_handle
from nudge.sequences.steps import DefinedProgress, StepOut
from nudge.tasks.ended import batch_end, record_end


def latest_batch(sessions: sessionmaker[Session], owner_id: int, workflow_id: str) -> TaskBatch:
    """The owner's newest batch for a sequence workflow id (one per run)."""
    with sessions() as session:
        batch = session.scalar(
            select(TaskBatch)
            .where(
                TaskBatch.owner_id == owner_id,
                TaskBatch.workflow_id == workflow_id,
                TaskBatch.kind == "sequence",
            )
            .order_by(TaskBatch.id.desc())
            .limit(1)
        )
    if batch is None:
        raise NotFound(
            f"sequence {workflow_id!r} not found; start one with "
            "POST /api/task-automation/schedule-sequence/"
        )
    return batch


def owned_batch(sessions: sessionmaker[Session], owner_id: int, batch_id: int) -> TaskBatch:
    with sessions() as session:
        batch = session.get(TaskBatch, batch_id)
    if batch is None or batch.owner_id != owner_id:
        raise NotFound(f"batch {batch_id} not found")
    return batch


def planned_steps(inp: SequenceInput) -> list[PlannedStep]:
    """Due times as the workflow computes them, from the anchor the API gave it."""
    assert inp.anchor is not None
    return _planned(inp, inp.anchor)


def _planned(inp: SequenceInput, start: datetime) -> list[PlannedStep]:
    due = sequence_due_times(inp.sequence_type, start, inp.start_delay_hours)
    return [PlannedStep(step=i + 1, due_at=d) for i, d in enumerate(due)]


def _anchor(batch: TaskBatch) -> datetime | None:
    """The anchor the API gave the run (None: a run started before anchors, counted from
    its start time)."""
    anchor = batch.params.get("anchor")
    return datetime.fromisoformat(anchor) if anchor else None


def _count_tasks(sessions: sessionmaker[Session], batch_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.batch_id == batch_id)) or 0


async def _closed(
    client: Client,
    sessions: sessionmaker[Session],
    batch: TaskBatch,
    desc: WorkflowExecutionDescription,
) -> TaskBatch:
    """The batch as it stands once its run has closed: a run that ended without writing its
    end (terminated, timed out, failed) gets it written now, with Temporal's reason."""
    if batch.status == "running":
        end = await batch_end(client, batch, desc)
        if end is not None:
            await to_thread.run_sync(record_end, sessions, batch.id, end)
        # Re-read: the run itself may have written its end after `batch` was loaded.
        batch = await to_thread.run_sync(owned_batch, sessions, batch.owner_id, batch.id)
    return batch


async def sequence_progress(
    client: Client, sessions: sessionmaker[Session], batch: TaskBatch
) -> SequenceProgress:
    if "definition_id" in batch.params:
        return await _defined_progress(client, sessions, batch)
    handle = sequence_handle(client, batch.workflow_id)
    # Older runs (no anchor) counted from their start: the batch's creation is close enough.
    start = _anchor(batch) or batch.created_at
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        start = _anchor(batch) or desc.start_time
        if desc.status == WorkflowExecutionStatus.RUNNING:
            try:
                return await query_sequence(handle)
            except (RPCError, WorkflowQueryFailedError):
                pass  # no worker to answer right now: our rows still tell most of it
        elif desc.status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        else:
            batch = await _closed(client, sessions, batch, desc)
    return await _from_rows(sessions, batch, start)


async def _from_rows(
    sessions: sessionmaker[Session], batch: TaskBatch, start: datetime
) -> SequenceProgress:
    inp = SequenceInput(
        owner_id=batch.owner_id,
        contact_id=batch.contact_id or 0,
        batch_id=batch.id,
        sequence_type=batch.params["sequence_type"],
        start_delay_hours=batch.params.get("start_delay_hours", 0),
    )
    created = await to_thread.run_sync(_count_tasks, sessions, batch.id)
    planned = _planned(inp, start)
    running = batch.status == "running"
    return SequenceProgress(
        workflow_id=batch.workflow_id,
        batch_id=batch.id,
        sequence_type=inp.sequence_type,
        state=batch.status,
        step=created,
        next_due_at=planned[created].due_at if running and created < len(planned) else None,
        tasks_created=created,
        stop_reason=batch.stop_reason,
        planned=planned,
    )


async def _defined_progress(
    client: Client, sessions: sessionmaker[Session], batch: TaskBatch
) -> SequenceProgress:
    """A custom sequence's enrollment: live, from its result, or from its task rows."""
    handle = defined_handle(client, batch.workflow_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        if desc.status == WorkflowExecutionStatus.RUNNING:
            try:
                return from_defined(await query_defined(handle))
            except (RPCError, WorkflowQueryFailedError):
                pass
        elif desc.status == WorkflowExecutionStatus.COMPLETED:
            return from_defined(await handle.result())
        else:
            batch = await _closed(client, sessions, batch, desc)
    return await to_thread.run_sync(_defined_from_rows, sessions, batch)


def _defined_from_rows(sessions: sessionmaker[Session], batch: TaskBatch) -> SequenceProgress:
    with sessions() as session:
        tasks = session.execute(
            select(Task.id, Task.kind, Task.due_at, Task.idempotency_key)
            .where(Task.batch_id == batch.id)
            .order_by(Task.due_at, Task.id)
        ).all()
    steps = [
        StepOut(
            number=i + 1,
            id=(DEFINED_STEP_KEY.parse(t.idempotency_key) or {}).get("step_id", "?"),
            kind=t.kind or "todo",
            state="created",
            due_at=t.due_at,
            task_id=t.id,
            reason=None,
        )
        for i, t in enumerate(tasks)
    ]
    return from_defined(
        DefinedProgress(
            workflow_id=batch.workflow_id,
            batch_id=batch.id,
            definition_id=batch.params["definition_id"],
            version=batch.params.get("version", 1),
            sequence_name=batch.name,
            state=batch.status,
            step=len(steps),
            next_due_at=None,
            tasks_created=len(steps),
            stop_reason=batch.stop_reason,
            steps=steps,
            migrations=[],
        )
    )
