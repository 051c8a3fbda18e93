"""Scheduling a follow-up sequence: batch row + workflow start, never two of either."""

from dataclasses import dataclass
from datetime import datetime

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from nudge.contracts import PlannedStep, SequenceInput, SequenceProgress
from nudge.db import transaction
from nudge.errors import ContactNotFound
from nudge.models import Contact, TaskBatch
from nudge.schedule import SEQUENCE_PRESETS, SequenceType, sequence_due_times
from nudge.starts import start_sequence
from nudge.temporal import sequence_workflow_id


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
        running = client.get_workflow_handle(err.workflow_id, run_id=err.run_id)
        progress = await running.query("progress", result_type=SequenceProgress)
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
