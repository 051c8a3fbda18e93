"""Automation statistics, each figure one SQL aggregate over an index (never rows in Python).
Every statement lives here, named, so the benchmark can EXPLAIN each (hence ~300 lines).

Task figures count the tasks *created* in the window [since, until) when one is given, all
tasks otherwise. "Overdue" means open and past its due time now. The chart is one entry per
UTC day, zero-filled, the 30 days ending at `until` (or today) unless `since` says otherwise.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.service import RPCError

from nudge.core.errors import Unprocessable
from nudge.core.models import Contact, Rule, RuleFiring, Task, TaskBatch
from nudge.core.vocabulary import PRIORITIES, TASK_STATUSES

CHART_DAYS = 30
MEDIANS_PER_STATEMENT = 200  # SQLite allows 500 terms in one UNION ALL
MAX_DAYS = 366
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    owner_id: int
    now: datetime
    since: datetime | None = None
    until: datetime | None = None
    days: list[date] = field(default_factory=list)

    @classmethod
    def of(
        cls, owner_id: int, now: datetime, since: datetime | None, until: datetime | None
    ) -> "Window":
        for name, value in (("since", since), ("until", until)):
            if value is not None and not EARLIEST <= value <= LATEST:
                raise Unprocessable(f"{name} must lie between the years 1970 and 9000")
        # since == until is an empty window: nothing counted, not a mistake.
        if since is not None and until is not None and since > until:
            raise Unprocessable("since must be before until, or equal to it (an empty window)")
        last = (until - timedelta(microseconds=1)).date() if until else now.date()
        first = since.date() if since else last - timedelta(days=CHART_DAYS - 1)
        # Figures cover the whole window; the chart its last MAX_DAYS days at most.
        first = max(first, last - timedelta(days=MAX_DAYS - 1))
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return cls(owner_id, now, since, until, days)

    def created(self, column: Any) -> list[ColumnElement[bool]]:
        where = []
        if self.since is not None:
            where.append(column >= self.since)
        if self.until is not None:
            where.append(column < self.until)
        return where


def _is(column: Any, value: object) -> Any:
    return func.sum(case((column == value, 1), else_=0))


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Task.status == "open", Task.due_at < now)


def _utc_day(dialect: str) -> Any:
    if dialect == "postgresql":  # timestamptz → the UTC calendar day, whatever the session zone
        return cast(func.timezone("UTC", Task.created_at), Date)
    # SQLite keeps naive UTC text, "YYYY-MM-DD HH:MM:SS…": the day is its first ten characters
    # (a substring costs far less per row than parsing it with date()).
    return func.substr(Task.created_at, 1, 10)


def _percentile(w: Window) -> Select:
    """PostgreSQL: every rule's median in one ordered-set aggregate over the covering index
    (cheap to plan, unlike a hundred-way UNION)."""
    hours = func.percentile_cont(0.5).within_group(Task.hours_to_complete)
    return (
        select(Task.rule_id, hours)
        .where(Task.owner_id == w.owner_id, *w.created(Task.created_at), _done())
        .where(Task.rule_id.is_not(None))
        .group_by(Task.rule_id)
    )


@lru_cache(maxsize=64)
def _medians(parts: int, since: bool, until: bool) -> CompoundSelect | Select:
    """SQLite: `parts` rules' medians in one statement, each an index seek to the middle of
    (owner, rule, completed, hours_to_complete): no sort however many tasks. Only bind
    parameters vary, so the statement is built and compiled once per shape."""

    def one(i: int) -> Select:
        where = [Task.owner_id == bindparam("owner"), Task.rule_id == bindparam(f"r{i}"), _done()]
        if since:
            where.append(Task.created_at >= bindparam("since"))
        if until:
            where.append(Task.created_at < bindparam("until"))
        middle = (
            select(Task.hours_to_complete.label("hours"))
            .where(*where)
            .order_by(Task.hours_to_complete)
            .limit(bindparam(f"l{i}"))
            .offset(bindparam(f"o{i}"))
            .subquery()
        )
        rule = cast(bindparam(f"r{i}", type_=Integer), Integer).label("rule_id")
        return select(rule, select(func.avg(middle.c.hours)).scalar_subquery().label("median"))

    selects = [one(i) for i in range(parts)]
    return union_all(*selects) if parts > 1 else selects[0]


def medians(w: Window, completed: dict[int, int]) -> tuple[CompoundSelect | Select, dict]:
    """The statement and its parameters for these rules (rule id → completed tasks)."""
    params: dict[str, Any] = {"owner": w.owner_id, "since": w.since, "until": w.until}
    for i, (rule_id, n) in enumerate(completed.items()):
        params |= {f"r{i}": rule_id, f"l{i}": 2 - n % 2, f"o{i}": (n - 1) // 2}
    stmt = _medians(len(completed), w.since is not None, w.until is not None)
    return stmt, {k: v for k, v in params.items() if v is not None}


def _done() -> ColumnElement[bool]:
    return and_(Task.status == "completed", Task.hours_to_complete.is_not(None))


def queries(w: Window, dialect: str) -> dict[str, Select]:
    """The statements compute() runs, by name, but for the medians (built from their counts)."""
    mine = Task.owner_id == w.owner_id
    tasks_in = [mine, *w.created(Task.created_at)]
    # The chart's days, cut to the window itself so its bars add up to the task total.
    first = datetime.combine(w.days[0], time(), UTC) if w.days else w.now
    after = datetime.combine(w.days[-1] + timedelta(days=1), time(), UTC) if w.days else w.now
    first, after = max(first, w.since or first), min(after, w.until or after)
    day = _utc_day(dialect)
    return {
        "rules": select(func.count(), func.coalesce(_is(Rule.is_active, True), 0)).where(
            Rule.owner_id == w.owner_id
        ),
        "tasks_by_status_priority": select(Task.status, Task.priority, func.count())
        .where(*tasks_in)
        .group_by(Task.status, Task.priority),
        # Per rule (NULL: tasks made by hand); the total is their sum. An index range of
        # (owner, open, due < now), so it stays small however many tasks are done.
        "overdue_by_rule": select(Task.rule_id, func.count())
        .where(*tasks_in, _overdue(w.now))
        .group_by(Task.rule_id),
        "tasks_per_day": select(day.label("day"), func.count())
        .where(mine, Task.created_at >= first, Task.created_at < after)
        .group_by(day),
        # Plain counts grouped in the index's own order: no expression per row.
        "per_rule_tasks": select(
            Task.rule_id, Task.status, func.count(), func.count(Task.hours_to_complete)
        )
        .where(*tasks_in, Task.rule_id.is_not(None))
        .group_by(Task.rule_id, Task.status),
        "rules_list": select(
            Rule.id,
            Rule.name,
            Rule.trigger_type,
            Rule.is_active,
            Rule.times_triggered,
            Rule.tasks_created,
            Rule.last_fired_at,
        )
        .where(Rule.owner_id == w.owner_id)
        .order_by(Rule.id),
        "running_batches": select(TaskBatch.kind, func.count())
        .where(TaskBatch.owner_id == w.owner_id, TaskBatch.status == "running")
        .group_by(TaskBatch.kind),
        "cadences": select(func.count()).where(
            Contact.owner_id == w.owner_id, Contact.cadence.is_not(None)
        ),
        "pending_firings": select(func.count()).where(
            RuleFiring.owner_id == w.owner_id, RuleFiring.state == "scheduled"
        ),
    }


def explained(w: Window, dialect: str) -> dict[str, Select | CompoundSelect]:
    """Every statement for the benchmark to EXPLAIN (SQLite's medians by one rule's seek)."""
    if dialect == "postgresql":
        return {**queries(w, dialect), "per_rule_median": _percentile(w)}
    sample = _medians(1, w.since is not None, w.until is not None)
    return {**queries(w, dialect), "per_rule_median": sample.params(medians(w, {0: 1})[1])}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute(session: Session, w: Window) -> dict[str, Any]:
    """The figures as plain data (the API's StatsOut), from the statements above."""
    dialect = session.get_bind().dialect.name
    # One snapshot for every statement (a median's offset comes from the count before it),
    # when compute() starts the session's transaction.
    if not session.in_transaction():
        if dialect == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        elif dialect == "sqlite":  # pysqlite opens no transaction for reads on its own
            session.connection().exec_driver_sql("BEGIN")
    q = queries(w, dialect)
    total_rules, active_rules = session.execute(q["rules"]).one()

    by_status = dict.fromkeys(TASK_STATUSES, 0)
    by_priority = dict.fromkeys(PRIORITIES, 0)
    for status, priority, n in session.execute(q["tasks_by_status_priority"]):
        by_status[status] = by_status.get(status, 0) + n
        by_priority[priority] = by_priority.get(priority, 0) + n
    total = sum(by_status.values())
    closed = total - by_status["cancelled"]

    created = {str(d)[:10]: n for d, n in session.execute(q["tasks_per_day"])}
    per_day = [{"date": d, "created": created.get(d.isoformat(), 0)} for d in w.days]

    overdue = {r: n for r, n in session.execute(q["overdue_by_rule"])}
    counts: dict[int, dict[str, int]] = {}
    completed: dict[int, int] = {}  # with a completion time: what the median ranks
    for rule_id, status, n, timed in session.execute(q["per_rule_tasks"]):
        counts.setdefault(rule_id, {})[status] = n
        if status == "completed" and timed:
            completed[rule_id] = timed
    middle: dict[int, float] = {}
    if dialect == "postgresql":
        middle.update({r: m for r, m in session.execute(_percentile(w))})
    else:
        rule_ids = sorted(completed)
        for start in range(0, len(rule_ids), MEDIANS_PER_STATEMENT):
            chunk = {r: completed[r] for r in rule_ids[start : start + MEDIANS_PER_STATEMENT]}
            stmt, params = medians(w, chunk)
            middle.update({r: m for r, m in session.execute(stmt, params)})
    per_rule = []
    for rule in session.execute(q["rules_list"]):
        by = counts.get(rule.id, {})
        n, done, late = sum(by.values()), by.get("completed", 0), overdue.get(rule.id, 0)
        median = middle.get(rule.id)
        per_rule.append(
            {
                "rule_id": rule.id,
                "name": rule.name,
                "trigger_type": rule.trigger_type,
                "is_active": rule.is_active,
                "times_triggered": rule.times_triggered,
                "tasks_created": rule.tasks_created,
                "tasks": n,
                "completed": done,
                "overdue": late,
                "completion_rate": _rate(done, n - by.get("cancelled", 0)),
                "overdue_rate": _rate(late, n),
                "median_hours_to_complete": None if median is None else round(float(median), 2),
                "last_fired_at": rule.last_fired_at,
            }
        )

    running = dict(session.execute(q["running_batches"]).all())
    return {
        "generated_at": w.now,
        "since": w.since,
        "until": w.until,
        "rules": {"total": total_rules, "active": int(active_rules)},
        "tasks": {
            "total": total,
            "by_status": by_status,
            "by_priority": by_priority,
            "overdue": sum(overdue.values()),
            "completion_rate": _rate(by_status["completed"], closed),
        },
        "tasks_per_day": per_day,
        "per_rule": per_rule,
        "running": {
            "sequences": running.get("sequence", 0),
            "campaign_enrollments": running.get("campaign", 0),
            "cadences": session.scalar(q["cadences"]) or 0,
            "pending_firings": session.scalar(q["pending_firings"]) or 0,
        },
    }


KINDS = ("sequence", "recurring", "campaign", "rule")


async def running_workflows(client: Client, owner_id: int) -> dict[str, int] | None:
    """Running workflows per kind, counted by Temporal visibility on our search attributes;
    None where the server can't count (the time-skipping test server) or is unreachable."""

    async def count(kind: str) -> int:
        query = (
            f'NudgeOwnerId = "{owner_id}" AND NudgeKind = "{kind}" AND ExecutionStatus = "Running"'
        )
        result = await client.count_workflows(query, rpc_timeout=timedelta(seconds=3))
        return result.count

    try:
        counts = await asyncio.gather(*(count(k) for k in KINDS))
    except (RPCError, RuntimeError):
        return None
    return dict(zip(KINDS, counts, strict=True))
