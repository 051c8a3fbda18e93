"""Helpers for workflow tests: schedule through the service, read tasks back."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.tasks import TaskActivities
from nudge.core.models import Task, TaskBatch
from nudge.sequences.payloads import SequenceProgress
from nudge.sequences.start import ScheduledSequence, schedule_sequence
from workflows.sequence import SequenceWorkflow


async def schedule(
    env: WorkflowEnvironment,
    worker: Worker,
    sessions: sessionmaker[Session],
    tenant,  # type: ignore[no-untyped-def]
    sequence_type: str = "standard",
    start_delay_hours: float = 0,
) -> tuple[ScheduledSequence, WorkflowHandle]:
    scheduled = await schedule_sequence(
        env.client,
        sessions,
        task_queue=worker.task_queue,
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        sequence_type=sequence_type,  # type: ignore[arg-type]
        start_delay_hours=start_delay_hours,
    )
    return scheduled, env.client.get_workflow_handle_for(
        SequenceWorkflow.run, scheduled.workflow_id
    )


async def finish(env: WorkflowEnvironment, handle: WorkflowHandle) -> SequenceProgress:
    """Wait for the workflow's result, letting the server skip time meanwhile."""
    async with env.time_skipping_unlocked():  # type: ignore[attr-defined]
        return await handle.result()


def worker_with(client: Client, acts: TaskActivities, executor: ThreadPoolExecutor) -> Worker:
    """A sequence worker whose activities are the given (possibly faulty) ones."""
    return Worker(
        client,
        task_queue=f"tq-{uuid.uuid4()}",
        workflows=[SequenceWorkflow],
        activities=[acts.begin_sequence, acts.create_task, acts.finish_batch],
        activity_executor=executor,
        max_concurrent_activities=16,
    )


def tasks_of(sessions: sessionmaker[Session], batch_id: int) -> list[Task]:
    with sessions() as session:
        return list(
            session.scalars(select(Task).where(Task.batch_id == batch_id).order_by(Task.due_at))
        )


def batch(sessions: sessionmaker[Session], batch_id: int) -> TaskBatch:
    with sessions() as session:
        found = session.get(TaskBatch, batch_id)
        assert found is not None
        return found


def days_between(start: datetime, times: list[datetime]) -> list[float]:
    return [round((t - start) / timedelta(days=1), 4) for t in times]
