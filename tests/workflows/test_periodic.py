"""PeriodicJobWorkflow on the time-skipping server, over real task rows: the overdue sweep
pages through every late open task, escalates each exactly once however often it runs, and
adds up what its pages did; the reminder sweep starts the one reminder of a task whose
reminder is due and was never delivered.

The sweeps see every owner's rows in the shared test database, so per-row checks are on this
test's owner, and the result's totals are checked against the whole table."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nudge.core.ids import reminder_workflow_id
from nudge.core.models import Notification, Task
from nudge.core.vocabulary import PeriodicJob, TaskStatus
from nudge.periodic.payloads import SweepResult
from nudge.platform.db import transaction
from tests.conftest import Tenant
from tests.support import poll
from workflows.periodic import PeriodicJobWorkflow
from workflows.reminder import ReminderWorkflow

GRACE = timedelta(hours=24)  # build_worker's default overdue_grace_hours


def add_task(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    title: str,
    *,
    due_at: datetime,
    status: TaskStatus = "open",
    source: str = "test",
    reminder_at: datetime | None = None,
) -> int:
    with transaction(sessions) as session:
        task = Task(
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            title=title,
            status=status,
            due_at=due_at,
            reminder_at=reminder_at,
            reminder_status="scheduled" if reminder_at else "none",
            source=source,
            idempotency_key=f"test-{uuid.uuid4()}",
        )
        session.add(task)
        session.flush()
        return task.id


async def sweep(
    env: WorkflowEnvironment, worker: Worker, job: PeriodicJob, page_size: int
) -> tuple[SweepResult, WorkflowHandle]:
    handle = await env.client.start_workflow(
        PeriodicJobWorkflow.run,
        args=[job, page_size],
        id=f"periodic-test-{uuid.uuid4()}",
        task_queue=worker.task_queue,
    )
    # A sweep waits on no timer, so the clock stays put: an auto-skipping result() would let
    # the server leap to the next pending timer anywhere (years ahead) once the run is done.
    with env.auto_time_skipping_disabled():
        return await handle.result(), handle


def escalations_of(sessions: sessionmaker[Session], owner_id: int) -> list[Task]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Task)
                .where(Task.owner_id == owner_id, Task.source == "overdue")
                .order_by(Task.id)
            )
        )


def overdue_candidates(sessions: sessionmaker[Session], now: datetime) -> list[int]:
    """Every owner's tasks the overdue sweep looks at, as of `now`."""
    with sessions() as session:
        return list(
            session.scalars(
                select(Task.id)
                .where(
                    Task.status == "open",
                    Task.due_at < now - GRACE,
                    Task.source != "overdue",
                )
                .order_by(Task.id)
            )
        )


def all_escalations(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.source == "overdue")) or 0


async def pages_of(handle: WorkflowHandle) -> int:
    history = await handle.fetch_history()
    return sum(e.HasField("activity_task_scheduled_event_attributes") for e in history.events)


async def test_overdue_sweep_escalates_each_late_task_once_over_pages(
    time_env, time_worker, sessions, tenant
):
    now = (await time_env.get_current_time()).replace(microsecond=0)
    late = [
        add_task(sessions, tenant, f"Call {i}", due_at=now - GRACE - timedelta(hours=1 + i))
        for i in range(5)
    ]
    # Not escalated: done, still within the grace, or itself an escalation.
    add_task(sessions, tenant, "Done", due_at=now - timedelta(days=3), status="completed")
    add_task(sessions, tenant, "Recent", due_at=now - GRACE + timedelta(hours=1))
    old = add_task(sessions, tenant, "Overdue: x", due_at=now - timedelta(days=3), source="overdue")
    candidates = overdue_candidates(sessions, now)
    assert set(late) <= set(candidates)
    before = all_escalations(sessions)

    first, handle = await sweep(time_env, time_worker, "escalate_overdue", 2)

    made = [t for t in escalations_of(sessions, tenant.owner_id) if t.id != old]
    assert [t.idempotency_key for t in made] == [f"overdue-{task_id}" for task_id in late]
    assert [t.title for t in made] == [f"Overdue: Call {i}" for i in range(5)]
    assert {(t.priority, t.status, t.contact_id, t.rule_id) for t in made} == {
        ("urgent", "open", tenant.contact_id, None)
    }
    assert all(now <= t.due_at < now + timedelta(minutes=1) for t in made)  # due "now"
    # The totals are the pages' sums: every late task examined, each escalation written once.
    # Other tests share the database and the clock moves on, so more tasks may have come due
    # by the time the sweep ran: it examined at least those seen here.
    assert first.examined >= len(candidates)
    assert first.acted == all_escalations(sessions) - before >= 5
    assert first.done and first.last_id >= candidates[-1]
    assert await pages_of(handle) == first.examined // 2 + 1  # two a page, then a short one

    second, _ = await sweep(time_env, time_worker, "escalate_overdue", 2)
    again = [t.id for t in escalations_of(sessions, tenant.owner_id) if t.id != old]
    assert again == [t.id for t in made]  # none new for this owner
    assert second.examined >= first.examined
    assert all_escalations(sessions) - before == first.acted + second.acted


async def test_reminder_sweep_delivers_a_due_reminder_once(time_env, time_worker, sessions, tenant):
    now = (await time_env.get_current_time()).replace(microsecond=0)
    hour = timedelta(hours=1)
    due = add_task(sessions, tenant, "Due", due_at=now + hour, reminder_at=now - hour)
    later = add_task(sessions, tenant, "Later", due_at=now + 6 * hour, reminder_at=now + 5 * hour)
    done = add_task(
        sessions, tenant, "Done", due_at=now + hour, reminder_at=now - hour, status="completed"
    )

    # Back to back: the second sweep may find the reminder started but not yet delivered.
    await sweep(time_env, time_worker, "remind_due", 100)
    await sweep(time_env, time_worker, "remind_due", 100)

    async def notes() -> list[int]:
        query = select(Notification.task_id).where(Notification.owner_id == tenant.owner_id)
        with sessions() as session:
            return list(session.scalars(query))

    await poll(notes, lambda found: found == [due])
    reminder = time_env.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(due)
    )
    assert await reminder.result() == "delivered"
    assert await notes() == [due]
    with sessions() as session:
        task = session.get(Task, due)
        assert task is not None and task.reminder_status == "delivered"
    # Not due yet, or done: no reminder workflow was started for them.
    for task_id in (later, done):
        try:
            await time_env.client.get_workflow_handle(reminder_workflow_id(task_id)).describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
        else:
            raise AssertionError(f"a reminder was started for task {task_id}")
