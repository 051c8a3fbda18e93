"""Scheduling a follow-up sequence: batch row + workflow start, never two of either."""

from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from nudge.contacts.lookup import owned_contact
from nudge.core.ids import sequence_workflow_id
from nudge.core.models import TaskBatch
from nudge.core.vocabulary import SequenceType
from nudge.platform.db import transaction
from nudge.sequences.batches import sequence_batch
from nudge.sequences.payloads import PlannedStep, SequenceInput
from nudge.sequences.progress import owned_batch, planned_steps, sequence_progress
from nudge.sequences.starts import start_sequence


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
    sequence_type: SequenceType,
    start_delay_hours: float,
) -> tuple[int, str]:
    with transaction(sessions) as session:
        contact = owned_contact(session, owner_id, contact_id=contact_id)
        batch = sequence_batch(contact, sequence_type, start_delay_hours)
        session.add(batch)
        session.flush()
        return batch.id, contact.name


def _drop_batch(sessions: sessionmaker[Session], batch_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(delete(TaskBatch).where(TaskBatch.id == batch_id))


async def _runs_our_batch(client: Client, workflow_id: str, batch_id: int) -> bool:
    """After an unclear start failure: did the start happen after all?"""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except (RPCError, RuntimeError):  # not found, or Temporal unreachable: not started
        return False
    return bool(await desc.memo_value("batch_id", None) == batch_id)


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
        # The winner's batch is named in its memo (newer rows may be other losers').
        desc = await client.get_workflow_handle(err.workflow_id, run_id=err.run_id).describe()
        running_id = await desc.memo_value("batch_id")
        running = await to_thread.run_sync(owned_batch, sessions, owner_id, running_id)
        progress = await sequence_progress(client, sessions, running)
        return ScheduledSequence(err.workflow_id, running.id, progress.planned, False)
    except Exception:
        # A timeout may hide a start that happened: keep the row for a workflow that runs.
        # (If we drop it wrongly, the workflow's first activity writes it back.)
        workflow_id = sequence_workflow_id(owner_id, contact_id, sequence_type)
        if not await _runs_our_batch(client, workflow_id, batch_id):
            await to_thread.run_sync(_drop_batch, sessions, batch_id)
            raise
        handle = client.get_workflow_handle(workflow_id)
    planned = await planned_steps(handle, inp)
    return ScheduledSequence(handle.id, batch_id, planned, True)
