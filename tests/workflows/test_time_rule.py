"""TimeRuleRunWorkflow on the time-skipping server, over real rule and contact rows: a run
writes one task per contact its filter matches, keyed on the run's minute, and counts each;
another run in that minute writes and counts nothing; an inactive rule writes nothing."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nudge.core.models import Contact, Rule, Task
from nudge.core.vocabulary import ContactStatus
from nudge.platform.db import transaction
from tests.conftest import Tenant
from workflows.time_rule import TimeRuleRunWorkflow

CONFIG = {"cron": "0 9 * * *", "timezone": "UTC", "contact_filter": {"status": "lead"}}


def make_rule(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    *,
    active: bool = True,
) -> tuple[int, list[int]]:
    """A daily 9:00 rule for leads, and the owner's leads: the tenant's contact (a lead) and
    one more; a prospect the filter leaves out. Returns (rule id, lead ids)."""
    contacts: list[tuple[str, ContactStatus]] = [
        ("Grace Hopper", "lead"),
        ("Alan Turing", "prospect"),
    ]
    with transaction(sessions) as session:
        rule = Rule(
            owner_id=tenant.owner_id,
            name="Morning calls",
            trigger_type="time",
            trigger_config=CONFIG,
            task_title_template="Call {{contact_name}} ({{rule_name}})",
            task_priority="low",
            is_active=active,
        )
        rows = [
            Contact(owner_id=tenant.owner_id, external_id=f"c-{uuid.uuid4()}", name=name,
                    status=status)
            for name, status in contacts
        ]  # fmt: skip
        session.add_all([rule, *rows])
        session.flush()
        return rule.id, [tenant.contact_id, rows[0].id]


async def run(env: WorkflowEnvironment, worker: Worker, rule_id: int) -> tuple[int, datetime]:
    """One run, as the rule's schedule would start it; (tasks written, its start time)."""
    handle = await env.client.start_workflow(
        TimeRuleRunWorkflow.run, rule_id, id=f"rule-run-{rule_id}-{uuid.uuid4()}",
        task_queue=worker.task_queue,
    )  # fmt: skip
    # No timer to wait for: keep the clock still, or result() lets the server leap ahead to
    # some other workflow's timer, and the next run would fall in another minute.
    with env.auto_time_skipping_disabled():
        written = await handle.result()
    started = (await handle.describe()).start_time
    assert started is not None
    return written, started


async def at_the_start_of_a_minute(env: WorkflowEnvironment) -> None:
    """Move the clock to a minute's first second, so the next runs fall in the same minute."""
    now = await env.get_current_time()
    await env.sleep(now.replace(second=1, microsecond=0) + timedelta(minutes=1) - now)


def tasks_of(sessions: sessionmaker[Session], rule_id: int) -> list[Task]:
    with sessions() as session:
        return list(session.scalars(select(Task).where(Task.rule_id == rule_id).order_by(Task.id)))


def rule_of(sessions: sessionmaker[Session], rule_id: int) -> Rule:
    with sessions() as session:
        rule = session.get(Rule, rule_id)
        assert rule is not None
        return rule


async def test_a_run_writes_one_task_per_matching_contact_once_a_minute(
    time_env, time_worker, sessions, tenant
):
    rule_id, leads = make_rule(sessions, tenant)
    await at_the_start_of_a_minute(time_env)

    written, started = await run(time_env, time_worker, rule_id)
    minute = started.replace(second=0, microsecond=0)

    assert written == 2
    tasks = tasks_of(sessions, rule_id)
    assert [t.contact_id for t in tasks] == leads  # the prospect got none
    assert [t.idempotency_key for t in tasks] == [
        f"time-rule-{rule_id}-{minute:%Y%m%dT%H%M}-{contact_id}" for contact_id in leads
    ]
    assert [t.title for t in tasks] == [
        "Call Ada Lovelace (Morning calls)",
        "Call Grace Hopper (Morning calls)",
    ]
    assert {(t.owner_id, t.source, t.priority, t.status, t.due_at) for t in tasks} == {
        (tenant.owner_id, f"rule:{rule_id}", "low", "open", minute)
    }
    # Each contact of a run is one trigger and one task.
    counted = rule_of(sessions, rule_id)
    assert (counted.times_triggered, counted.tasks_created) == (2, 2)
    assert counted.last_fired_at is not None

    again, restarted = await run(time_env, time_worker, rule_id)
    assert restarted.replace(second=0, microsecond=0) == minute  # the same scheduled minute
    assert again == 0
    assert [t.id for t in tasks_of(sessions, rule_id)] == [t.id for t in tasks]
    recounted = rule_of(sessions, rule_id)
    assert (recounted.times_triggered, recounted.tasks_created) == (2, 2)
    assert recounted.last_fired_at == counted.last_fired_at


async def test_an_inactive_rule_writes_nothing(time_env, time_worker, sessions, tenant):
    rule_id, _ = make_rule(sessions, tenant, active=False)

    written, _ = await run(time_env, time_worker, rule_id)

    assert written == 0
    assert tasks_of(sessions, rule_id) == []
    counted = rule_of(sessions, rule_id)
    assert (counted.times_triggered, counted.tasks_created, counted.last_fired_at) == (0, 0, None)
