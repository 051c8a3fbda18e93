"""The periodic jobs as Temporal Schedules on the real dev server."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio.client import ScheduleOverlapPolicy
from temporalio.service import RPCError

from nudge.campaigns.service import _enroll_rows
from nudge.core.models import Contact, Notification, Task
from nudge.periodic.schedules import PERIODIC, sync_schedules
from nudge.platform.db import transaction
from tests.e2e.test_reminder_webhook import Receiver, set_webhook
from tests.support import WorkerProcess, auth, poll
from workflows.periodic import PeriodicJobWorkflow

pytestmark = pytest.mark.slow
IDS = {p.schedule_id for p in PERIODIC}


async def schedule_ids(client) -> set[str]:  # type: ignore[no-untyped-def]
    return {s.id async for s in await client.list_schedules()}


async def test_starting_the_worker_twice_makes_the_four_schedules_once(
    dev_env, database_url, tmp_path
):
    target = dev_env.client.service_client.config.target_host
    for _ in range(2):
        worker = WorkerProcess(target, database_url, "nudge-schedules", tmp_path / "w.log")
        worker.start()
        worker.kill()
    found = await poll(lambda: schedule_ids(dev_env.client), lambda ids: IDS <= ids)
    assert IDS <= found
    listed = [s async for s in await dev_env.client.list_schedules() if s.id in IDS]
    assert len(listed) == 4  # no duplicates
    desc = await dev_env.client.get_schedule_handle("auto-schedule-overdue-tasks").describe()
    hours = [r.start for c in desc.schedule.spec.calendars for r in c.hour]
    assert hours == [9] and desc.schedule.spec.time_zone_name == "UTC"
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP


async def trigger_twice(client, schedule_id: str, queue: str) -> None:  # type: ignore[no-untyped-def]
    """Once through the schedule, then the same job twice at the same moment (a backfill
    racing a tick), each run to completion."""
    await client.get_schedule_handle(schedule_id).trigger()
    job = next(p.job for p in PERIODIC if p.schedule_id == schedule_id)
    await asyncio.gather(
        *(
            client.execute_workflow(
                PeriodicJobWorkflow.run,
                args=[job, 500],
                id=f"race-{schedule_id}-{i}-{uuid.uuid4()}",
                task_queue=queue,
            )
            for i in range(2)
        )
    )


def add_task(sessions, tenant, key: str, due: datetime, status: str = "open") -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        task = Task(
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            title=f"Call {key}",
            source="test",
            due_at=due,
            status=status,
            idempotency_key=f"{key}-{tenant.owner_id}",
        )
        session.add(task)
        session.flush()
        return task.id


async def test_overdue_triggered_twice_escalates_each_task_once(
    dev_api, dev_env, sessions, tenant, dev_worker_queue
):
    await sync_schedules(dev_env.client, dev_worker_queue, "UTC")
    now = datetime.now(UTC)
    late = [add_task(sessions, tenant, f"late{i}", now - timedelta(days=2)) for i in range(3)]
    add_task(sessions, tenant, "soon", now + timedelta(days=1))
    add_task(sessions, tenant, "done", now - timedelta(days=3), status="completed")

    def urgent() -> list[Task]:
        with sessions() as session:
            mine = select(Task).where(Task.owner_id == tenant.owner_id, Task.source == "overdue")
            return list(session.scalars(mine.order_by(Task.id)))

    async def count() -> int:
        return len(urgent())

    await trigger_twice(dev_env.client, "auto-schedule-overdue-tasks", dev_worker_queue)
    assert await poll(count, lambda n: n == 3, 30) == 3
    await trigger_twice(
        dev_env.client, "auto-schedule-overdue-tasks", dev_worker_queue
    )  # a backfill, say
    await asyncio.sleep(3)
    made = urgent()
    assert [t.idempotency_key for t in made] == [f"overdue-{i}" for i in late]
    assert {t.priority for t in made} == {"urgent"}
    assert made[0].title == "Overdue: Call late0"


async def test_reminder_sweep_twice_at_once_delivers_once(
    dev_api, dev_env, sessions, tenant, dev_worker_queue
):
    await sync_schedules(dev_env.client, dev_worker_queue, "UTC")
    receiver = Receiver()
    try:
        await set_webhook(dev_api, tenant, receiver.url)
        due = datetime.now(UTC) + timedelta(minutes=1)
        resp = await dev_api.post(
            "/api/tasks/",
            json={"contact_id": tenant.contact_id, "title": "Send the quote",
                  "due_at": due.isoformat(), "reminder_offset_hours": 1},
            headers=auth(tenant),
        )  # fmt: skip
        assert resp.status_code == 201 and resp.json()["reminder_status"] == "scheduled"
        task_id = resp.json()["id"]
        await trigger_twice(dev_env.client, "send-task-reminders", dev_worker_queue)

        async def status() -> str:
            r = await dev_api.get(f"/api/tasks/{task_id}/", headers=auth(tenant))
            return r.json()["reminder_status"]

        assert await poll(status, lambda s: s == "delivered", 30) == "delivered"
        await trigger_twice(dev_env.client, "send-task-reminders", dev_worker_queue)
        await asyncio.sleep(3)
        assert len(receiver.accepted) == 1
        with sessions() as session:
            notes = session.scalar(select(func.count()).where(Notification.task_id == task_id))
        assert notes == 1
    finally:
        receiver.close()


async def test_recurring_reconcile_starts_and_stops_by_contact_cadence(
    dev_api, dev_env, sessions, tenant, dev_worker_queue
):
    await sync_schedules(dev_env.client, dev_worker_queue, "UTC")
    with transaction(sessions) as session:  # a cadence set without the API (e.g. an import)
        session.get(Contact, tenant.contact_id).cadence = "weekly"
    wf = f"recurring-{tenant.owner_id}-{tenant.contact_id}"
    handle = dev_env.client.get_workflow_handle(wf)

    async def state() -> str:
        try:
            return (await handle.describe()).status.name
        except RPCError:
            return "NONE"

    await dev_env.client.get_schedule_handle("schedule-recurring-tasks").trigger()
    assert await poll(state, lambda s: s == "RUNNING", 30) == "RUNNING"
    with transaction(sessions) as session:
        session.get(Contact, tenant.contact_id).cadence = None

    async def visible() -> list[str]:
        query = f"NudgeKind = 'recurring' AND NudgeContactId = '{tenant.contact_id}'"
        return [w.id async for w in dev_env.client.list_workflows(query)]

    await poll(visible, lambda ids: ids == [wf], 30)  # visibility is eventually consistent
    reconcile = dev_env.client.get_schedule_handle("schedule-recurring-tasks")

    async def running() -> list:
        return (await reconcile.describe()).info.running_actions

    # The run ids carry the second they start in: let the first finish and the clock move.
    await poll(running, lambda r: not r, 30)
    await asyncio.sleep(1.1)
    await reconcile.trigger()
    assert await poll(state, lambda s: s == "COMPLETED", 30) == "COMPLETED"


async def test_a_stranded_enrollment_is_started_by_the_reconcile(
    dev_api, dev_env, sessions, tenant, dev_worker_queue
):
    await sync_schedules(dev_env.client, dev_worker_queue, "UTC")
    headers = auth(tenant)
    campaign = {"name": "c", "steps": [{"message_type": "task", "name": "Call", "order": 1}]}
    cid = (await dev_api.post("/api/campaigns/", json=campaign, headers=headers)).json()["id"]
    # The rows without the start, as if the API died in between.
    rows = _enroll_rows(sessions, tenant.owner_id, cid, [tenant.contact_id])
    await dev_env.client.get_schedule_handle("process-automation-workflows").trigger()

    async def tasks() -> int:
        return (await dev_api.get("/api/tasks/", headers=headers)).json()["total"]

    assert await poll(tasks, lambda n: n == 1, 30) == 1
    desc = await dev_env.client.get_workflow_handle(rows[0].workflow_id).describe()
    assert desc.status.name in ("RUNNING", "COMPLETED")
