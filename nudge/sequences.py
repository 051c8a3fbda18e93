"""Scheduling a follow-up sequence: batch row + workflow start, never two of either."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from anyio import to_thread
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from nudge.contracts import PlannedStep, SequenceInput, SequenceProgress
from nudge.db import transaction
from nudge.errors import Conflict, ContactNotFound, NotFound
from nudge.models import BatchStatus, Contact, Task, TaskBatch
from nudge.schedule import SEQUENCE_PRESETS, SequenceType, sequence_due_times
from nudge.starts import start_sequence
from nudge.temporal import sequence_workflow_id
from workflows.sequence import SequenceWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


@dataclass
class ScheduledSequence:
    workflow_id: str
    batch_id: int
    planned: list[PlannedStep]
    started: bool  # False: one was already running and this is it


def _open_batch(
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    sequence_type: str,
    start_delay_hours: float,
) -> tuple[int, str]:
    with transaction(sessions) as session:
        contact = session.scalar(
            select(Contact).where(Contact.id == contact_id, Contact.owner_id == owner_id)
        )
        if contact is None:
            raise ContactNotFound(contact_id)
        batch = TaskBatch(
            owner_id=owner_id,
            kind="sequence",
            name=f"{sequence_type} sequence for {contact.name}",
            contact_id=contact_id,
            workflow_id=sequence_workflow_id(owner_id, contact_id, sequence_type),
            planned=len(SEQUENCE_PRESETS[sequence_type]),
            params={"sequence_type": sequence_type, "start_delay_hours": start_delay_hours},
        )
        session.add(batch)
        session.flush()
        return batch.id, contact.name


def _drop_batch(sessions: sessionmaker[Session], batch_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(delete(TaskBatch).where(TaskBatch.id == batch_id))


async def schedule_sequence(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    task_queue: str,
    owner_id: int,
    contact_id: int,
    sequence_type: SequenceType,
    start_delay_hours: float,
) -> ScheduledSequence:
    batch_id, contact_name = await to_thread.run_sync(
        _open_batch, sessions, owner_id, contact_id, sequence_type, start_delay_hours
    )
    inp = SequenceInput(
        owner_id=owner_id,
        contact_id=contact_id,
        batch_id=batch_id,
        sequence_type=sequence_type,
        start_delay_hours=start_delay_hours,
    )
    try:
        handle = await start_sequence(client, task_queue, inp, contact_name=contact_name)
    except WorkflowAlreadyStartedError as err:
        # Double click or retry: the running sequence is the answer; our batch row goes.
        await to_thread.run_sync(_drop_batch, sessions, batch_id)
        running = client.get_workflow_handle_for(
            SequenceWorkflow.run, err.workflow_id, run_id=err.run_id
        )
        progress = await running.query(SequenceWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
        return ScheduledSequence(err.workflow_id, progress.batch_id, progress.planned, False)
    except BaseException:
        await to_thread.run_sync(_drop_batch, sessions, batch_id)
        raise
    planned = await planned_steps(handle, inp)
    return ScheduledSequence(handle.id, batch_id, planned, True)


async def planned_steps(handle: WorkflowHandle, inp: SequenceInput) -> list[PlannedStep]:
    """Due times as the workflow will compute them, from its recorded start time."""
    start: datetime = (await handle.describe()).start_time
    due = sequence_due_times(inp.sequence_type, start, inp.start_delay_hours)
    return [PlannedStep(step=i + 1, due_at=d) for i, d in enumerate(due)]


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


def _count_tasks(sessions: sessionmaker[Session], batch_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.batch_id == batch_id)) or 0


async def sequence_progress(
    client: Client, sessions: sessionmaker[Session], batch: TaskBatch
) -> SequenceProgress:
    """Live progress from the workflow; from its result or our rows once it has ended."""
    handle = client.get_workflow_handle_for(SequenceWorkflow.run, batch.workflow_id)
    desc = await handle.describe()
    if desc.status == WorkflowExecutionStatus.RUNNING:
        try:
            return await handle.query(SequenceWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError):
            pass  # no worker to answer right now: our rows still tell most of it
    elif desc.status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    inp = SequenceInput(
        owner_id=batch.owner_id,
        contact_id=batch.contact_id or 0,
        batch_id=batch.id,
        sequence_type=batch.params["sequence_type"],
        start_delay_hours=batch.params.get("start_delay_hours", 0),
    )
    created = await to_thread.run_sync(_count_tasks, sessions, batch.id)
    planned = await planned_steps(handle, inp)
    running = batch.status == BatchStatus.running
    return SequenceProgress(
        workflow_id=batch.workflow_id,
        batch_id=batch.id,
        sequence_type=inp.sequence_type,
        state=batch.status,  # type: ignore[arg-type]
        step=created,
        next_due_at=planned[created].due_at if running and created < len(planned) else None,
        tasks_created=created,
        stop_reason=batch.stop_reason,
        planned=planned,
    )


async def signal_sequence(client: Client, batch: TaskBatch, signal: str, *args: object) -> None:
    """Deliver pause/resume/cancel; a sequence that has ended is a 409 naming its state."""
    handle = client.get_workflow_handle(batch.workflow_id)
    try:
        await handle.signal(signal, *args)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(
                f"sequence {batch.workflow_id!r} has already ended ({batch.status}); "
                f"there is nothing to {signal}"
            ) from None
        raise
