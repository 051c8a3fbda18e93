"""Kill -9 the worker process after it wrote a task (and its outbox event) but before the
event reached the subscriber, restart it: the event is delivered, once, signed, and the task
is not written twice.

A real `nudge worker` subprocess writes the task (step 1 of a sequence, on day 1) and kicks
its delivery workflow; the receiver is down, so the first POST fails and the retry waits an
hour (NUDGE_WEBHOOK_FIRST_RETRY_SECONDS). The worker dies during that wait, with nothing in
flight; a new process on the same queue picks the retry up once the receiver is back. (The
periodic sweep, run as its schedule would, leaves the delivery to its running workflow; a
commit whose kick never ran at all is covered in tests/e2e/test_task_events.py.)"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio.worker import Worker

from activities.periodic import kick_pending
from activities.webhooks import message_id
from nudge.core.ids import delivery_workflow_id
from nudge.core.models import OutboxEvent, Task, WebhookDelivery
from nudge.integrations.starts import DeliveryTiming
from nudge.integrations.subscription_schemas import SubscriptionIn
from nudge.integrations.subscriptions import create_subscription
from nudge.periodic.payloads import SweepPage
from nudge.platform.db import transaction
from tests.receivers import EventReceiver
from tests.support import WorkerProcess, poll
from tests.workflows.helpers import schedule, tasks_of

pytestmark = pytest.mark.slow

FIRST_RETRY = timedelta(hours=1)


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    r = EventReceiver()
    yield r
    r.close()


@pytest.fixture
def worker_process(time_env, database_url, tmp_path) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    target = time_env.client.service_client.config.target_host
    worker = WorkerProcess(target, database_url, f"tq-{uuid.uuid4()}", tmp_path / "worker.log")
    worker.env["NUDGE_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver listens on 127.0.0.1
    worker.env["NUDGE_WEBHOOK_FIRST_RETRY_SECONDS"] = str(FIRST_RETRY.total_seconds())
    yield worker
    worker.kill()


async def test_event_of_a_task_written_before_the_kill_is_delivered_once_after_restart(
    time_env, sessions, tenant, receiver, worker_process
):
    worker, queue = worker_process, worker_process.env["NUDGE_TASK_QUEUE"]
    with transaction(sessions) as session:
        sub = create_subscription(
            session,
            tenant.owner_id,
            SubscriptionIn(url=receiver.url, event_types=["task.created", "task.completed"]),
        )
    receiver.secret = sub.secret
    receiver.down = True  # every POST answered 503 until the worker has died

    worker.start()
    # `schedule` only needs the queue name from this handle; no in-process worker runs.
    fake = Worker.__new__(Worker)
    fake._config = {"task_queue": queue}  # type: ignore[attr-defined]
    scheduled, sequence = await schedule(time_env, fake, sessions, tenant, "aggressive")

    async def timers() -> int:
        return sum(
            [
                e.HasField("timer_started_event_attributes")
                async for e in sequence.fetch_history_events()
            ]
        )

    async def count() -> int:
        return len(tasks_of(sessions, scheduled.batch_id))

    def delivery() -> WebhookDelivery | None:
        with sessions() as session:
            return session.scalar(
                select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
            )

    async def fetch_delivery() -> WebhookDelivery | None:
        return delivery()

    await time_env.sleep(timedelta(days=1))  # step 1 is due on day 1
    assert await poll(count, lambda n: n == 1, 30) == 1
    [task] = tasks_of(sessions, scheduled.batch_id)
    assert await poll(timers, lambda n: n == 2, 30) == 2  # the sequence waits on step 2

    # The worker kicked the delivery; its first POST failed and the retry is an hour away.
    row = await poll(fetch_delivery, lambda d: d is not None and d.status == "retrying", 30)
    assert row is not None and (row.status, row.task_id, row.type) == (
        "retrying",
        task.id,
        "task.created",
    )
    handle = time_env.client.get_workflow_handle(delivery_workflow_id(sub.id, task.id))

    async def backing_off() -> bool:
        """The server has attempt 1's failure and waits to schedule attempt 2. (The
        time-skipping server shows a backing-off activity as STARTED, with the last
        attempt's start time, so this is told by its failure and attempt number.)"""
        pending = (await handle.describe()).raw_description.pending_activities
        return [(p.attempt, p.last_failure.message) for p in pending] == [(2, "answered 503")]

    assert await poll(backing_off, bool, 30), "the failed POST was never reported"
    assert receiver.posts == 1 and receiver.accepted == {}
    worker.kill()  # nothing in flight: the retry waits on the server for any worker

    with receiver.lock:
        receiver.down = False
        posts_while_down = receiver.posts
    worker.start()
    # The periodic sweep, as its schedule would run it: the retrying delivery's workflow is
    # alive, so the sweep's kick reaches that same workflow (its id) and starts no other.
    await kick_pending(
        time_env.client,
        sessions,
        queue,
        DeliveryTiming(),
        SweepPage(now=datetime.now(UTC) + timedelta(minutes=2)),
        tenant.owner_id,  # this owner's only: other tests' deliveries share the database
    )
    await time_env.sleep(FIRST_RETRY + timedelta(minutes=5))  # past the retry's backoff
    done = await poll(fetch_delivery, lambda d: d is not None and d.status == "delivered", 30)
    assert done is not None and done.status == "delivered", done and done.status

    with sessions() as session:
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.task_id == task.id))
        owned = session.scalar(select(func.count(Task.id)).where(Task.owner_id == tenant.owner_id))
        rows = session.scalar(
            select(func.count(WebhookDelivery.id)).where(WebhookDelivery.subscription_id == sub.id)
        )
    assert event.type == "task.created"
    assert list(receiver.accepted) == [message_id(event.id)]
    assert receiver.of_task(task.id) == ["task.created"]
    assert receiver.events()[0]["data"]["id"] == task.id
    assert receiver.bad_signatures == 0
    assert receiver.posts - posts_while_down == 1  # sent once after the restart, not twice
    assert done.attempts == posts_while_down + 1 and done.last_status_code == 204
    assert (owned, rows) == (1, 1)  # one task, one event, one delivery: nothing doubled
    assert await count() == 1
    worker.kill()
