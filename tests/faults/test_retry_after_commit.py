"""A task write that is retried after it committed leaves exactly one row."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities.tasks import TaskActivities
from nudge.core.models import Contact, Task, TaskBatch
from nudge.platform.db import transaction
from nudge.sequences.batches import sequence_batch
from nudge.sequences.payloads import SequenceInput
from nudge.tasks.payloads import CreatedTask, NewTask
from tests.workflows.helpers import finish, schedule, tasks_of, worker_with


def new_task(tenant, key: str) -> NewTask:  # type: ignore[no-untyped-def]
    return NewTask(
        idempotency_key=key,
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        source="test",
        title="Call back",
        due_at=datetime.now(UTC) + timedelta(days=1),
    )


def rows_with_key(sessions, key: str) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.idempotency_key == key))


def test_running_the_activity_twice_writes_one_row(sessions, tenant):
    key = f"test-{uuid.uuid4()}"
    acts = TaskActivities(sessions)
    env = ActivityEnvironment()
    first = env.run(acts.create_task, new_task(tenant, key))
    second = env.run(acts.create_task, new_task(tenant, key))
    assert first.created and not second.created
    assert first.task_id == second.task_id
    assert rows_with_key(sessions, key) == 1


def test_concurrent_attempts_write_one_row(sessions, tenant):
    key = f"test-{uuid.uuid4()}"
    acts = TaskActivities(sessions)

    def attempt(_: int) -> CreatedTask:
        return ActivityEnvironment().run(acts.create_task, new_task(tenant, key))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert len({r.task_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert rows_with_key(sessions, key) == 1


class CrashAfterCommit(TaskActivities):
    """Commits the task, then fails the first attempt as if the worker died before
    reporting success; Temporal retries it."""

    @activity.defn(name="create_task")
    def create_task(self, new: NewTask) -> CreatedTask:
        result = super().create_task(new)
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the insert committed")
        return result


async def test_temporal_retry_after_commit_leaves_one_task_per_step(
    time_env, sessions, tenant, executor
):
    acts = CrashAfterCommit(sessions)
    worker = worker_with(time_env.client, acts, executor)
    async with worker:
        scheduled, handle = await schedule(time_env, worker, sessions, tenant, "aggressive")
        result = await finish(time_env, handle)
    tasks = tasks_of(sessions, scheduled.batch_id)
    assert len(tasks) == 4 and result.tasks_created == 4
    assert len({t.idempotency_key for t in tasks}) == 4
    # Each step's write really ran twice: attempt 1 committed and failed, attempt 2 found it.
    kinds: dict[int, str] = {}
    attempts: list[int] = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            kinds[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if kinds[started.scheduled_event_id] == "create_task":
                attempts.append(started.attempt)
    assert attempts == [2, 2, 2, 2]


def test_a_sequence_whose_batch_row_was_dropped_writes_it_back(sessions, tenant):
    """The API drops its batch row when a start's outcome was unclear; if the workflow did
    start, its first activity restores the row, so task rows always have their batch."""
    with transaction(sessions) as session:
        contact = session.get(Contact, tenant.contact_id)
        row = sequence_batch(contact, "gentle", 2)
        session.add(row)
        session.flush()
        batch_id = row.id
        session.delete(row)
    inp = SequenceInput(
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        batch_id=batch_id,
        sequence_type="gentle",
        start_delay_hours=2,
    )
    acts = TaskActivities(sessions)
    for _ in range(2):  # and running it again changes nothing
        card = ActivityEnvironment().run(acts.begin_sequence, inp)
        assert card.name == tenant.contact_name
    with sessions() as session:
        restored = session.get(TaskBatch, batch_id)
        assert restored is not None
        assert (restored.owner_id, restored.workflow_id, restored.planned, restored.status) == (
            tenant.owner_id,
            f"sequence-{tenant.owner_id}-{tenant.contact_id}-gentle",
            4,
            "running",
        )
