"""Kill -9 the worker mid-sequence, restart it: every step's task exists exactly once.

(The time-skipping server holds its clock while a workflow task waits for a worker, so
time only moves here while no step is due; tests/faults/test_retry_after_commit.py covers
a crash between the insert and the activity's completion.)"""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.worker import Worker

from tests.support import WorkerProcess, poll
from tests.workflows.helpers import finish, schedule, tasks_of

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_process(time_env, database_url, tmp_path) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    target = time_env.client.service_client.config.target_host
    worker = WorkerProcess(target, database_url, f"tq-{uuid.uuid4()}", tmp_path / "worker.log")
    yield worker
    worker.kill()


async def test_killed_worker_loses_and_doubles_nothing(time_env, sessions, tenant, worker_process):
    worker, queue = worker_process, worker_process.env["NUDGE_TASK_QUEUE"]
    worker.start()
    # `schedule` only needs the queue name from this handle; no in-process worker runs.
    fake = Worker.__new__(Worker)
    fake._config = {"task_queue": queue}  # type: ignore[attr-defined]
    scheduled, handle = await schedule(time_env, fake, sessions, tenant, "aggressive")

    async def count() -> int:
        return len(tasks_of(sessions, scheduled.batch_id))

    async def timers() -> int:
        return sum(
            [
                e.HasField("timer_started_event_attributes")
                async for e in handle.fetch_history_events()
            ]
        )

    await time_env.sleep(timedelta(days=1))
    assert await poll(count, lambda n: n == 1, 30) == 1
    assert await poll(timers, lambda n: n == 2, 30) == 2  # waiting on step 2: nothing in flight
    worker.kill()
    await time_env.sleep(timedelta(hours=12))  # half a day with no worker at all
    assert await count() == 1

    worker.start()
    await time_env.sleep(timedelta(days=3))  # steps 2 (day 2) and 3 (day 4)
    assert await poll(count, lambda n: n == 3, 60) == 3
    result = await finish(time_env, handle)
    tasks = tasks_of(sessions, scheduled.batch_id)
    assert result.state == "completed"
    assert len(tasks) == 4 == len({t.idempotency_key for t in tasks})
    worker.kill()
