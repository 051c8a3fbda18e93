"""The one task writer: a key is written once, and a rule's counters move only with a new row."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import Rule, Task
from nudge.platform.db import transaction
from nudge.tasks.payloads import NewTask
from nudge.tasks.writer import insert_task, write_task_once
from tests.conftest import Tenant

DUE = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _rule(sessions: sessionmaker[Session], owner_id: int) -> int:
    with transaction(sessions) as session:
        rule = Rule(owner_id=owner_id, name="r", trigger_type="time", task_title_template="t")
        session.add(rule)
        session.flush()
        return rule.id


def _task(tenant: Tenant, **extra: Any) -> NewTask:
    return NewTask(
        idempotency_key=f"test-{uuid.uuid4()}",
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        source="test",
        title="Call back",
        due_at=DUE,
        **extra,
    )


def _rows(sessions: sessionmaker[Session], key: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.idempotency_key == key)) or 0


def _counters(sessions: sessionmaker[Session], rule_id: int) -> tuple[int, int, datetime | None]:
    with sessions() as session:
        rule = session.get(Rule, rule_id)
        assert rule is not None
        return rule.times_triggered, rule.tasks_created, rule.last_fired_at


def test_written_once_and_counted_once(sessions, tenant):
    rule_id = _rule(sessions, tenant.owner_id)
    new = _task(tenant, rule_id=rule_id, counts_trigger=True)
    first, again = write_task_once(sessions, new), write_task_once(sessions, new)
    assert (first.created, again.created) == (True, False)
    assert first.task_id == again.task_id
    assert _rows(sessions, new.idempotency_key) == 1
    triggered, created, last = _counters(sessions, rule_id)
    assert (triggered, created) == (1, 1) and last is not None


def test_concurrent_writers_leave_one_row_and_one_count(sessions, tenant):
    rule_id = _rule(sessions, tenant.owner_id)
    new = _task(tenant, rule_id=rule_id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: write_task_once(sessions, new), range(16)))
    assert len({r.task_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert _counters(sessions, rule_id)[:2] == (0, 1)  # an event counted the trigger


def test_insert_inside_a_transaction_rolls_back_with_it(sessions, tenant):
    """A firing or a campaign step writes its task with other rows: all or nothing."""
    rule_id = _rule(sessions, tenant.owner_id)
    new = _task(tenant, rule_id=rule_id)
    try:
        with transaction(sessions) as session:
            insert_task(session, new)
            raise RuntimeError("the firing was claimed by someone else")
    except RuntimeError:
        pass
    assert _rows(sessions, new.idempotency_key) == 0
    assert _counters(sessions, rule_id)[:2] == (0, 0)


def test_a_reminder_makes_the_task_scheduled(sessions, tenant):
    with_reminder = write_task_once(sessions, _task(tenant, reminder_at=DUE - timedelta(hours=1)))
    without = write_task_once(sessions, _task(tenant))
    with sessions() as session:
        assert session.get(Task, with_reminder.task_id).reminder_status == "scheduled"
        assert session.get(Task, without.task_id).reminder_status == "none"
