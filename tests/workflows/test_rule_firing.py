"""RuleFiringWorkflow on the time-skipping server, over real firing rows: the task is written
when `create_at` arrives and not before, once however often the firing runs, counted once on
its rule; an inactive rule is a recorded skip; a reminder runs as the firing's child."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nudge.core.ids import reminder_workflow_id, rule_firing_workflow_id
from nudge.core.models import CrmEvent, Notification, Rule, RuleFiring, Task
from nudge.platform.db import transaction
from nudge.rules.payloads import FiringInput, FiringOutcome
from tests.conftest import Tenant
from tests.support import poll
from workflows.reminder import ReminderWorkflow
from workflows.rule_firing import RuleFiringWorkflow

TITLE = "Follow up with {{contact_name}}"
DESCRIPTION = "{{contact_name}} did {{activity_type}}; due {{due_date}}"


@dataclass
class Firing:
    inp: FiringInput
    workflow_id: str
    fired_before: datetime  # the rule's last_fired_at, set by the (simulated) event intake


def make_firing(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    now: datetime,
    *,
    create_at: datetime,
    due_at: datetime,
    reminder_at: datetime | None = None,
) -> Firing:
    """The rows the event intake writes: a rule that counted one trigger, the event, and a
    scheduled firing holding the event's template context."""
    hour = timedelta(hours=1)
    with transaction(sessions) as session:
        rule = Rule(
            owner_id=tenant.owner_id,
            name="Email open follow-up",
            trigger_type="activity",
            trigger_config={"activity_types": ["email_opened"]},
            task_title_template=TITLE,
            task_description_template=DESCRIPTION,
            task_priority="high",
            delay_hours=(due_at - now) / hour,
            reminder_offset_hours=None if reminder_at is None else (due_at - reminder_at) / hour,
            is_active=True,
            times_triggered=1,
            last_fired_at=now,
        )
        event = CrmEvent(
            owner_id=tenant.owner_id,
            event_id=f"evt-{uuid.uuid4()}",
            contact_id=tenant.contact_id,
            kind="activity",
            activity_type="email_opened",
            occurred_at=now,
            processed_at=now,
        )
        session.add_all([rule, event])
        session.flush()
        workflow_id = rule_firing_workflow_id(rule.id, event.id)
        firing = RuleFiring(
            owner_id=tenant.owner_id,
            rule_id=rule.id,
            event_row_id=event.id,
            contact_id=tenant.contact_id,
            workflow_id=workflow_id,
            create_at=create_at,
            due_at=due_at,
            reminder_at=reminder_at,
            context={"contact_name": tenant.contact_name, "activity_type": "email_opened"},
        )
        session.add(firing)
        session.flush()
        inp = FiringInput(
            firing_id=firing.id,
            rule_id=rule.id,
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            create_at=create_at,
            due_at=due_at,
        )
    return Firing(inp, workflow_id, now)


async def start(
    env: WorkflowEnvironment, worker: Worker, inp: FiringInput, workflow_id: str
) -> WorkflowHandle:
    return await env.client.start_workflow(
        RuleFiringWorkflow.run, inp, id=workflow_id, task_queue=worker.task_queue
    )


async def server_now(env: WorkflowEnvironment) -> datetime:
    """The test server's clock (the one timers follow), to the whole second."""
    return (await env.get_current_time()).replace(microsecond=0)


def tasks_of(sessions: sessionmaker[Session], owner_id: int) -> list[Task]:
    with sessions() as session:
        return list(session.scalars(select(Task).where(Task.owner_id == owner_id)))


def rule_of(sessions: sessionmaker[Session], rule_id: int) -> Rule:
    with sessions() as session:
        rule = session.get(Rule, rule_id)
        assert rule is not None
        return rule


def firing_row(sessions: sessionmaker[Session], firing_id: int) -> RuleFiring:
    with sessions() as session:
        firing = session.get(RuleFiring, firing_id)
        assert firing is not None
        return firing


async def tasks_until(sessions: sessionmaker[Session], owner_id: int, count: int) -> list[Task]:
    """The owner's tasks once there are `count` (the activity may still be writing when a
    sleep returns), or whatever is there when polling gives up."""

    async def fetch() -> list[Task]:
        return tasks_of(sessions, owner_id)

    return await poll(fetch, lambda tasks: len(tasks) >= count)


async def test_the_task_is_written_when_create_at_comes_and_counted_once(
    time_env, time_worker, sessions, tenant
):
    now = await server_now(time_env)
    due = now + timedelta(hours=2)
    firing = make_firing(sessions, tenant, now, create_at=due, due_at=due)
    handle = await start(time_env, time_worker, firing.inp, firing.workflow_id)

    # A minute early: the firing still waits, nothing is written or counted.
    await time_env.sleep(timedelta(hours=2) - timedelta(minutes=1))
    assert tasks_of(sessions, tenant.owner_id) == []
    assert firing_row(sessions, firing.inp.firing_id).state == "scheduled"
    assert rule_of(sessions, firing.inp.rule_id).tasks_created == 0

    await time_env.sleep(timedelta(minutes=2))
    assert len(await tasks_until(sessions, tenant.owner_id, 1)) == 1
    outcome: FiringOutcome = await handle.result()

    [task] = tasks_of(sessions, tenant.owner_id)
    assert outcome == FiringOutcome(state="created", reason=None, task_id=task.id)
    assert task.title == "Follow up with Ada Lovelace"
    assert task.description == f"Ada Lovelace did email_opened; due {due:%Y-%m-%d %H:%M} UTC"
    assert (task.priority, task.status, task.due_at, task.reminder_at) == (
        "high",
        "open",
        due,
        None,
    )
    assert task.reminder_status == "none"
    assert task.source == f"rule:{firing.inp.rule_id}" and task.rule_id == firing.inp.rule_id
    assert (task.contact_id, task.workflow_id) == (tenant.contact_id, firing.workflow_id)
    assert task.idempotency_key == firing.workflow_id  # a firing's task is keyed by its id
    row = firing_row(sessions, firing.inp.firing_id)
    assert (row.state, row.reason, row.task_id) == ("created", None, task.id)
    # The event intake counted the trigger; the firing counts only the task.
    rule = rule_of(sessions, firing.inp.rule_id)
    assert (rule.times_triggered, rule.tasks_created) == (1, 1)
    assert rule.last_fired_at == firing.fired_before


async def test_running_the_same_firing_twice_leaves_one_task(
    time_env, time_worker, sessions, tenant
):
    now = await server_now(time_env)
    due = now + timedelta(hours=1)
    firing = make_firing(sessions, tenant, now, create_at=due, due_at=due)
    first = await (await start(time_env, time_worker, firing.inp, firing.workflow_id)).result()
    # Same firing row, another workflow (e.g. a restarted one): it finds the firing settled.
    again = await start(time_env, time_worker, firing.inp, f"{firing.workflow_id}-{uuid.uuid4()}")
    second = await again.result()

    [task] = tasks_of(sessions, tenant.owner_id)
    assert first == second == FiringOutcome(state="created", task_id=task.id)
    rule = rule_of(sessions, firing.inp.rule_id)
    assert (rule.times_triggered, rule.tasks_created) == (1, 1)


async def test_two_runs_of_one_firing_racing_write_one_task(
    time_env, time_worker, sessions, tenant
):
    now = await server_now(time_env)
    due = now + timedelta(hours=1)
    firing = make_firing(sessions, tenant, now, create_at=due, due_at=due)
    # Both wake at the same moment and race for the same firing row.
    handles = [
        await start(time_env, time_worker, firing.inp, firing.workflow_id),
        await start(time_env, time_worker, firing.inp, f"{firing.workflow_id}-{uuid.uuid4()}"),
    ]
    # One result at a time: each awaiting result() unlocks the server's clock, and two
    # unlocks at once let it skip past activities still running.
    outcomes = [await h.result() for h in handles]

    [task] = tasks_of(sessions, tenant.owner_id)
    assert outcomes == [FiringOutcome(state="created", task_id=task.id)] * 2
    assert rule_of(sessions, firing.inp.rule_id).tasks_created == 1


async def test_a_rule_deactivated_during_the_delay_is_a_recorded_skip(
    time_env, time_worker, sessions, tenant
):
    now = await server_now(time_env)
    due = now + timedelta(hours=4)
    firing = make_firing(sessions, tenant, now, create_at=due, due_at=due)
    handle = await start(time_env, time_worker, firing.inp, firing.workflow_id)
    await time_env.sleep(timedelta(hours=1))
    with transaction(sessions) as session:
        rule = session.get(Rule, firing.inp.rule_id)
        assert rule is not None
        rule.is_active = False
    outcome: FiringOutcome = await handle.result()

    assert outcome == FiringOutcome(state="skipped", reason="rule inactive", task_id=None)
    assert tasks_of(sessions, tenant.owner_id) == []
    row = firing_row(sessions, firing.inp.firing_id)
    assert (row.state, row.reason, row.task_id) == ("skipped", "rule inactive", None)
    counted = rule_of(sessions, firing.inp.rule_id)
    assert (counted.times_triggered, counted.tasks_created) == (1, 0)


async def test_a_task_with_a_reminder_runs_it_as_a_child(time_env, time_worker, sessions, tenant):
    now = await server_now(time_env)
    # As the intake plans it: a task due in 3 h, reminded 1 h before, written at the reminder.
    remind, due = now + timedelta(hours=2), now + timedelta(hours=3)
    firing = make_firing(sessions, tenant, now, create_at=remind, due_at=due, reminder_at=remind)
    handle = await start(time_env, time_worker, firing.inp, firing.workflow_id)

    await time_env.sleep(timedelta(hours=2) - timedelta(minutes=1))
    assert tasks_of(sessions, tenant.owner_id) == []
    await time_env.sleep(timedelta(minutes=2))
    [task] = await tasks_until(sessions, tenant.owner_id, 1)
    outcome: FiringOutcome = await handle.result()

    assert outcome == FiringOutcome(state="created", task_id=task.id, reminder_at=remind)
    assert (task.due_at, task.reminder_at) == (due, remind)
    child = time_env.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(task.id)
    )
    # The firing waited for its child: by now the reminder has finished.
    assert (await child.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await child.result() == "delivered"
    started = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for e in (await handle.fetch_history()).events
        if e.HasField("child_workflow_execution_started_event_attributes")
    ]
    assert started == [f"reminder-task-{task.id}"]
    with sessions() as session:
        notes = list(session.scalars(select(Notification).where(Notification.task_id == task.id)))
        saved = session.get(Task, task.id)
    assert [(n.owner_id, n.title) for n in notes] == [
        (tenant.owner_id, "Follow up with Ada Lovelace")
    ]
    assert saved is not None and saved.reminder_status == "delivered"
