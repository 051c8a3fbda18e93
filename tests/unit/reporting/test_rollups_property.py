"""The stats roll-ups stay exact: random task creates (through the one writer and straight
through the ORM, on past days), completes, cancels, reschedules, deletes and rule deletes,
and after every step each stats figure — all time, and windows cut mid-day and on whole days
— equals the same figure counted in Python from the owner's task rows. At the end the
counters kept step by step equal the ones `rebuild` computes from the tasks table.

Runs on the suite's database (SQLite, or PostgreSQL in CI's second leg)."""

import statistics
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.errors import Conflict
from nudge.core.models import Rule, Task
from nudge.core.rollups import CREATED, DAYS, OPEN_DUE, OPEN_HOURS, TOTALS
from nudge.core.vocabulary import PRIORITIES
from nudge.platform.db import transaction
from nudge.platform.owners import create_owner
from nudge.reporting.rollups import rebuild
from nudge.reporting.stats import Window, stats_of
from nudge.rules.service import _delete_rows  # the rule deletion's database half
from nudge.tasks.payloads import NewTask
from nudge.tasks.schemas import TaskPatch
from nudge.tasks.service import cancel_task, complete_task, update_task
from nudge.tasks.writer import write_task_once

NOW = datetime.now(UTC)
priorities = st.sampled_from(PRIORITIES)
index = st.integers(min_value=0, max_value=10_000)
# Minutes from now: often within the hour around it (today's hour counters meet the current
# hour's index range there), else up to three days either way.
due_in = st.integers(-90, 30) | st.integers(-72 * 60, 72 * 60)


def expected(tasks: list[Task], rules: list[int], w: Window) -> dict[str, Any]:
    """The figures straight from the rows, the way the API documents them."""

    def inside(t: Task) -> bool:
        return (w.since is None or t.created_at >= w.since) and (
            w.until is None or t.created_at < w.until
        )

    chosen = [t for t in tasks if inside(t)]
    late = [t for t in chosen if t.status == "open" and t.due_at < w.now]
    per_rule = {}
    for r in rules:
        mine = [t for t in chosen if t.rule_id == r]
        hours = [t.hours_to_complete for t in mine if t.status == "completed"]
        per_rule[r] = {
            "tasks": len(mine),
            "completed": len(hours),
            "overdue": sum(1 for t in late if t.rule_id == r),
            "median": statistics.median(hours) if hours else None,
        }
    per_day = Counter(t.created_at.date() for t in tasks)
    first_day: date = w.days[0]
    return {
        "by_status": Counter(t.status for t in chosen),
        "by_priority": Counter(t.priority for t in chosen),
        "total": len(chosen),
        "overdue": len(late),
        "per_rule": per_rule,
        # The chart counts the window's part of each day.
        "per_day": {
            d: sum(1 for t in tasks if t.created_at.date() == d and inside(t)) for d in w.days
        },
        "first_day_all": per_day.get(first_day, 0),
    }


def counters(session: Session, owner_id: int) -> dict[str, set]:
    out = {}
    for table in (DAYS, TOTALS, CREATED, OPEN_DUE, OPEN_HOURS):
        rows = session.execute(select(table).where(table.c.owner_id == owner_id)).all()
        # Zero rows are what a counter moved away from; they count nothing.
        out[table.name] = {tuple(r) for r in rows if r._mapping["tasks"] != 0}
    return out


class Rollups(RuleBasedStateMachine):
    sessions: sessionmaker[Session]

    def __init__(self) -> None:
        super().__init__()
        with transaction(self.sessions) as session:
            owner, _ = create_owner(session, f"rollups-{uuid.uuid4().hex[:8]}")
            self.owner_id = owner.id
        self.rules: list[int] = []
        self.tasks: list[int] = []
        self.n = 0

    @rule()
    def add_rule(self) -> None:
        with transaction(self.sessions) as session:
            r = Rule(
                owner_id=self.owner_id,
                name=f"r{len(self.rules)}",
                trigger_type="activity",
                trigger_config={"activity_types": ["email_opened"]},
                task_title_template="Follow up",
            )
            session.add(r)
            session.flush()
            self.rules.append(r.id)

    def _rule(self, pick: int) -> int | None:
        return self.rules[pick % len(self.rules)] if self.rules and pick % 4 else None

    @rule(pick=index, priority=priorities, due_minutes=due_in)
    def create_through_the_writer(self, pick: int, priority: str, due_minutes: int) -> None:
        self.n += 1
        written = write_task_once(
            self.sessions,
            NewTask(
                idempotency_key=f"rollups-{self.owner_id}-{self.n}",
                owner_id=self.owner_id,
                contact_id=None,
                source="test",
                title="t",
                priority=priority,  # type: ignore[arg-type]
                due_at=NOW + timedelta(minutes=due_minutes),
                rule_id=self._rule(pick),
            ),
        )
        self.tasks.append(written.task_id)

    @rule(
        pick=index,
        priority=priorities,
        minutes_ago=st.integers(0, 6 * 24 * 60),
        due_minutes=due_in,
    )
    def create_on_a_past_day(
        self, pick: int, priority: str, minutes_ago: int, due_minutes: int
    ) -> None:
        self.n += 1
        created = NOW - timedelta(minutes=minutes_ago)
        with transaction(self.sessions) as session:
            task = Task(
                owner_id=self.owner_id,
                title="t",
                source="test",
                priority=priority,
                idempotency_key=f"rollups-{self.owner_id}-{self.n}",
                created_at=created,
                due_at=created + timedelta(minutes=due_minutes),
                rule_id=self._rule(pick),
            )
            session.add(task)
            session.flush()
            self.tasks.append(task.id)

    @precondition(lambda self: self.tasks)
    @rule(pick=index)
    def complete(self, pick: int) -> None:
        try:
            complete_task(self.sessions, self.owner_id, self.tasks[pick % len(self.tasks)])
        except Conflict:
            pass  # cancelled: it stays so

    @precondition(lambda self: self.tasks)
    @rule(pick=index)
    def cancel(self, pick: int) -> None:
        try:
            cancel_task(self.sessions, self.owner_id, self.tasks[pick % len(self.tasks)])
        except Conflict:
            pass

    @precondition(lambda self: self.tasks)
    @rule(
        pick=index,
        priority=st.none() | priorities,
        due_minutes=st.none() | due_in,
    )
    def reschedule(self, pick: int, priority: str | None, due_minutes: int | None) -> None:
        if priority is None and due_minutes is None:
            return
        change: dict[str, object] = {}
        if priority is not None:
            change["priority"] = priority
        if due_minutes is not None:
            change["due_at"] = NOW + timedelta(minutes=due_minutes)
        body = TaskPatch.model_validate(change)
        try:
            update_task(self.sessions, self.owner_id, self.tasks[pick % len(self.tasks)], body)
        except Conflict:
            pass

    @precondition(lambda self: self.tasks)
    @rule(pick=index)
    def delete_task(self, pick: int) -> None:
        task_id = self.tasks.pop(pick % len(self.tasks))
        with transaction(self.sessions) as session:
            session.delete(session.get(Task, task_id))

    @precondition(lambda self: self.rules)
    @rule(pick=index)
    def delete_rule(self, pick: int) -> None:
        _delete_rows(self.sessions, self.owner_id, self.rules.pop(pick % len(self.rules)))

    @invariant()
    def every_figure_equals_the_rows(self) -> None:
        with self.sessions() as session:
            tasks = list(session.scalars(select(Task).where(Task.owner_id == self.owner_id)))
        now = datetime.now(UTC)
        windows = [
            (None, None),
            (now - timedelta(days=2, hours=7), now - timedelta(hours=3)),  # cut mid-day
            (datetime.combine(now.date() - timedelta(days=3), datetime.min.time(), UTC), None),
            (None, datetime.combine(now.date(), datetime.min.time(), UTC)),
            (now - timedelta(hours=2), now - timedelta(hours=1)),  # inside one day
        ]
        for since, until in windows:
            w = Window.of(self.owner_id, now, since, until)
            got = stats_of(self.sessions, w)
            want = expected(tasks, self.rules, w)
            where = f"window {since} .. {until}"
            assert got["tasks"]["total"] == want["total"], where
            assert got["tasks"]["overdue"] == want["overdue"], where
            assert {k: v for k, v in got["tasks"]["by_status"].items() if v} == dict(
                want["by_status"]
            ), where
            assert {k: v for k, v in got["tasks"]["by_priority"].items() if v} == dict(
                want["by_priority"]
            ), where
            assert {d["date"]: d["created"] for d in got["tasks_per_day"]} == want["per_day"], where
            assert [r["rule_id"] for r in got["per_rule"]] == self.rules
            for row in got["per_rule"]:
                exp = want["per_rule"][row["rule_id"]]
                assert (row["tasks"], row["completed"], row["overdue"]) == (
                    exp["tasks"],
                    exp["completed"],
                    exp["overdue"],
                ), (where, row["rule_id"])
                if exp["median"] is None:
                    assert row["median_hours_to_complete"] is None, where
                else:
                    assert abs(row["median_hours_to_complete"] - exp["median"]) <= 0.006, where

    def teardown(self) -> None:
        with transaction(self.sessions) as session:
            kept = counters(session, self.owner_id)
            rebuild(session, self.owner_id)
            assert counters(session, self.owner_id) == kept


def test_rollups_equal_the_tasks_table(sessions: sessionmaker[Session]) -> None:
    Rollups.sessions = sessions
    run = Rollups.TestCase
    run.settings = settings(
        max_examples=25,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run().runTest()
