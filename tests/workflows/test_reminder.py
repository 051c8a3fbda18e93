"""ReminderWorkflow on the time-skipping server, over real task rows: one notification when
the reminder time comes and none before; a task done by then gets none and says so; an
owner's webhook gets one signed, accepted delivery even when it fails at first."""

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nudge.core.ids import reminder_workflow_id
from nudge.core.models import Notification, Owner, Task
from nudge.core.vocabulary import TaskStatus
from nudge.platform.db import transaction
from nudge.reminders.payloads import ReminderInput
from nudge.reminders.webhooks import sign
from tests.conftest import Tenant
from tests.e2e.test_reminder_webhook import Receiver
from tests.support import poll
from workflows.reminder import ReminderWorkflow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)  # two 500s, then 204
    yield r
    r.close()


def make_task(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    *,
    due_at: datetime,
    reminder_at: datetime,
    status: TaskStatus = "open",
) -> int:
    """A task whose reminder is planned, as every producer leaves it."""
    with transaction(sessions) as session:
        task = Task(
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            title="Call Ada back",
            priority="high",
            status=status,
            due_at=due_at,
            reminder_at=reminder_at,
            reminder_status="scheduled",
            source="test",
            idempotency_key=f"test-{uuid.uuid4()}",
        )
        session.add(task)
        session.flush()
        return task.id


async def start(
    env: WorkflowEnvironment, worker: Worker, owner_id: int, task_id: int, remind_at: datetime
) -> WorkflowHandle:
    return await env.client.start_workflow(
        ReminderWorkflow.run,
        ReminderInput(owner_id=owner_id, task_id=task_id, remind_at=remind_at),
        id=reminder_workflow_id(task_id),
        task_queue=worker.task_queue,
    )


def notifications(sessions: sessionmaker[Session], task_id: int) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).where(Notification.task_id == task_id)))


def task_row(sessions: sessionmaker[Session], task_id: int) -> Task:
    with sessions() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task


async def server_now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).replace(microsecond=0)


async def test_one_notification_when_the_reminder_is_due_and_none_before(
    time_env, time_worker, sessions, tenant
):
    now = await server_now(time_env)
    remind = now + timedelta(hours=3)
    task_id = make_task(sessions, tenant, due_at=remind + timedelta(hours=1), reminder_at=remind)
    handle = await start(time_env, time_worker, tenant.owner_id, task_id, remind)

    await time_env.sleep(timedelta(hours=3) - timedelta(minutes=1))
    assert notifications(sessions, task_id) == []
    assert task_row(sessions, task_id).reminder_status == "scheduled"

    await time_env.sleep(timedelta(minutes=2))

    async def fetch() -> list[Notification]:
        return notifications(sessions, task_id)

    assert len(await poll(fetch, lambda notes: len(notes) > 0)) == 1
    assert await handle.result() == "delivered"

    [note] = notifications(sessions, task_id)
    assert (note.owner_id, note.kind, note.title) == (tenant.owner_id, "reminder", "Call Ada back")
    task = task_row(sessions, task_id)
    # No webhook configured: the notification row is the delivery.
    assert (task.reminder_status, task.reminder_detail) == ("delivered", None)


async def test_a_completed_task_gets_no_reminder(time_env, time_worker, sessions, tenant):
    now = await server_now(time_env)
    remind = now + timedelta(hours=1)
    task_id = make_task(
        sessions, tenant, due_at=now + timedelta(hours=2), reminder_at=remind, status="completed"
    )
    handle = await start(time_env, time_worker, tenant.owner_id, task_id, remind)

    assert await handle.result() == "task is no longer open"
    assert notifications(sessions, task_id) == []
    task = task_row(sessions, task_id)
    assert (task.reminder_status, task.reminder_detail) == (
        "skipped",
        "task completed before its reminder",
    )


async def test_a_failing_webhook_is_retried_until_one_signed_delivery_is_accepted(
    time_env, time_worker, sessions, tenant, receiver
):
    secret = f"whsec-{uuid.uuid4().hex}"
    with transaction(sessions) as session:
        owner = session.get(Owner, tenant.owner_id)
        assert owner is not None
        owner.webhook_url, owner.webhook_secret = receiver.url, secret
    now = await server_now(time_env)
    remind, due = now + timedelta(hours=1), now + timedelta(hours=2)
    task_id = make_task(sessions, tenant, due_at=due, reminder_at=remind)
    handle = await start(time_env, time_worker, tenant.owner_id, task_id, remind)

    assert await handle.result() == "delivered"

    # Two refusals, then one acceptance: every attempt carries the same delivery id.
    assert len(receiver.seen) == 3 and len(receiver.accepted) == 1
    assert {h["X-Nudge-Delivery"] for h, _ in receiver.seen} == {f"reminder-task-{task_id}"}
    headers, body = receiver.accepted[0]
    assert headers["X-Nudge-Signature"] == sign(secret, body)
    assert json.loads(body) == {
        "type": "task.reminder",
        "delivery_id": f"reminder-task-{task_id}",
        "task": {
            "id": task_id,
            "title": "Call Ada back",
            "priority": "high",
            "due_at": due.isoformat(),
            "contact_id": tenant.contact_id,
        },
    }
    task = task_row(sessions, task_id)
    assert (task.reminder_status, task.reminder_detail) == ("delivered", "webhook answered 204")
    assert len(notifications(sessions, task_id)) == 1
