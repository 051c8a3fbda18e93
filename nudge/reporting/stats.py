"""Automation statistics: sums of the roll-up counters (nudge/core/rollups.py), never a read
of every task, so all-time stats cost the same at 10M tasks as at 10k. Every statement lives
here, named, so the benchmark can EXPLAIN each.

Task figures count the tasks *created* in the window [since, until) when one is given, all
tasks otherwise: whole UTC days from the day counters, a window's partial first and last day
from the tasks table (an index range of at most a day each). "Overdue" means open and past
its due time now: all open tasks less the open-by-due-day counters from today on, plus
today's past hours' counters and the current hour's index range up to now (a window's
overdue reads its tasks). The chart is one entry per UTC day, zero-filled, the
30 days ending at `until` (or today) unless `since` says otherwise. Medians are exact: an
index seek to the middle of a rule's completed tasks; all-time ones are remembered with the
count they were taken over and sought again only after the rule's next completion.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    select,
    text,
    union_all,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from nudge.core.errors import Unprocessable
from nudge.core.models import Contact, Rule, RuleFiring, RuleMedian, Task, TaskBatch
from nudge.core.rollups import CREATED, DAYS, NO_RULE, OPEN_DUE, OPEN_HOURS, TOTALS, utc_hour
from nudge.core.vocabulary import PRIORITIES, TASK_STATUSES
from nudge.platform.db import transaction

CHART_DAYS = 30
MEDIANS_PER_STATEMENT = 200  # SQLite allows 500 terms in one UNION ALL
REMEMBERED_PER_STATEMENT = 5000  # 4 parameters a rule: SQLite allows 32766 in a statement
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


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


Edge = tuple[datetime | None, datetime | None]  # [start, end) read from the tasks table


@dataclass(frozen=True)
class Split:
    """The window as whole UTC days [first, after) of the day counters (None: unbounded;
    `days` False: no whole day) and its partial edges, read from the tasks table."""

    days: bool
    first: date | None
    after: date | None
    edges: list[Edge]


def split(w: Window) -> Split:
    since = w.since.astimezone(UTC) if w.since is not None else None
    until = w.until.astimezone(UTC) if w.until is not None else None
    first = after = None
    if since is not None:
        first = since.date() if since == _midnight(since.date()) else since.date() + timedelta(1)
    if until is not None:
        after = until.date()
    if first is not None and after is not None and first >= after:
        return Split(False, None, None, [(since, until)])  # inside a day or two part-days
    edges: list[Edge] = []
    if since is not None and first is not None and since != _midnight(first):
        edges.append((since, _midnight(first)))
    if until is not None and after is not None and until != _midnight(after):
        edges.append((_midnight(after), until))
    return Split(True, first, after, edges)


def _days(column: Any, first: date | None, after: date | None) -> list[ColumnElement[bool]]:
    where = []
    if first is not None:
        where.append(column >= first)
    if after is not None:
        where.append(column < after)
    return where


def _created(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    return Window(0, LATEST, start, end).created(Task.created_at)


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Task.status == "open", Task.due_at < now)


def _percentile(w: Window, rule_ids: list[int] | None = None) -> Select:
    """PostgreSQL: rules' medians in one ordered-set aggregate over the covering index
    (cheap to plan, unlike a hundred-way UNION)."""
    hours = func.percentile_cont(0.5).within_group(Task.hours_to_complete)
    stmt = (
        select(Task.rule_id, hours)
        .where(Task.owner_id == w.owner_id, *w.created(Task.created_at), _done())
        .where(Task.rule_id.is_not(None))
        .group_by(Task.rule_id)
    )
    return stmt if rule_ids is None else stmt.where(Task.rule_id.in_(rule_ids))


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


def _chart(w: Window) -> tuple[date, date]:
    return (w.days[0], w.days[-1]) if w.days else (w.now.date(), w.now.date())


def queries(w: Window, dialect: str) -> dict[str, Select]:
    """The statements compute() runs for the whole days, by name (the edges, today's overdue
    range and the medians are built from what these answer)."""
    owner = w.owner_id
    cut = split(w)
    d, t = DAYS.c, TOTALS.c
    whole = [d.owner_id == owner, *_days(d.day, cut.first, cut.after)]
    first, last = _chart(w)
    today = w.now.astimezone(UTC).date()
    if w.since is None and w.until is None:  # all time: the totals, a few hundred rows
        by_status = select(t.status, t.priority, func.sum(t.tasks)).where(t.owner_id == owner)
        by_status = by_status.group_by(t.status, t.priority)
        per_rule = select(t.rule_id, t.status, func.sum(t.tasks), func.sum(t.timed))
        per_rule = per_rule.where(t.owner_id == owner, t.rule_id != NO_RULE)
        per_rule = per_rule.group_by(t.rule_id, t.status)
    else:
        by_status = select(d.status, d.priority, func.sum(d.tasks)).where(*whole)
        by_status = by_status.group_by(d.status, d.priority)
        per_rule = select(d.rule_id, d.status, func.sum(d.tasks), func.sum(d.timed))
        per_rule = per_rule.where(*whole, d.rule_id != NO_RULE).group_by(d.rule_id, d.status)
    o, h = OPEN_DUE.c, OPEN_HOURS.c
    hour = utc_hour(w.now)
    return {
        "rules": select(func.count(), func.coalesce(_is(Rule.is_active, True), 0)).where(
            Rule.owner_id == owner
        ),
        "tasks_by_status_priority": by_status,
        "per_rule_tasks": per_rule,
        "tasks_per_day": select(CREATED.c.day, CREATED.c.tasks).where(
            CREATED.c.owner_id == owner, CREATED.c.day >= first, CREATED.c.day <= last
        ),
        # All time: open tasks less those due from today on (the days ahead: one key range
        # however long the history), then today's past hours' counters and the current
        # hour's index range up to now (at most an hour of tasks, however busy the day).
        "open_due_ahead": select(o.rule_id, func.sum(o.tasks))
        .where(o.owner_id == owner, o.day >= today)
        .group_by(o.rule_id),
        "open_due_earlier_today": select(h.rule_id, func.sum(h.tasks))
        .where(h.owner_id == owner, h.hour >= utc_hour(_midnight(today)), h.hour < hour)
        .group_by(h.rule_id),
        "overdue_this_hour": select(Task.rule_id, func.count())
        .where(Task.owner_id == owner, _overdue(w.now), Task.due_at >= _hour_start(hour))
        .group_by(Task.rule_id),
        # A window's overdue tasks: an index range of (owner, open, due < now).
        "overdue_by_rule": select(Task.rule_id, func.count())
        .where(Task.owner_id == owner, *w.created(Task.created_at), _overdue(w.now))
        .group_by(Task.rule_id),
        "rules_list": select(
            Rule.id,
            Rule.name,
            Rule.trigger_type,
            Rule.is_active,
            Rule.times_triggered,
            Rule.tasks_created,
            Rule.last_fired_at,
            Rule.created_at,
        )
        .where(Rule.owner_id == owner)
        .order_by(Rule.id),
        "known_medians": select(RuleMedian.rule_id, RuleMedian.completed, RuleMedian.median).where(
            RuleMedian.owner_id == owner
        ),
        "running_batches": select(TaskBatch.kind, func.count())
        .where(TaskBatch.owner_id == owner, TaskBatch.status == "running")
        .group_by(TaskBatch.kind),
        "cadences": select(func.count()).where(
            Contact.owner_id == owner, Contact.cadence.is_not(None)
        ),
        "pending_firings": select(func.count()).where(
            RuleFiring.owner_id == owner, RuleFiring.state == "scheduled"
        ),
    }


def edge_queries(w: Window, start: datetime | None, end: datetime | None) -> dict[str, Select]:
    """A partial day's figures, from the tasks created in [start, end) (an index range)."""
    tasks_in = [Task.owner_id == w.owner_id, *_created(start, end)]
    return {
        "tasks_by_status_priority": select(Task.status, Task.priority, func.count())
        .where(*tasks_in)
        .group_by(Task.status, Task.priority),
        "per_rule_tasks": select(
            Task.rule_id, Task.status, func.count(), func.count(Task.hours_to_complete)
        )
        .where(*tasks_in, Task.rule_id.is_not(None))
        .group_by(Task.rule_id, Task.status),
        "created": select(func.count()).where(*tasks_in),
    }


def explained(w: Window, dialect: str) -> dict[str, Select | CompoundSelect]:
    """Every statement for the benchmark to EXPLAIN (SQLite's medians by one rule's seek)."""
    edge = {f"edge_{k}": v for k, v in edge_queries(w, w.now - timedelta(hours=1), w.now).items()}
    if dialect == "postgresql":
        return {**queries(w, dialect), **edge, "per_rule_median": _percentile(w)}
    sample = _medians(1, w.since is not None, w.until is not None)
    return {**queries(w, dialect), **edge, "per_rule_median": sample.params(medians(w, {0: 1})[1])}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


Fresh = dict[int, tuple[int, float, datetime]]  # rule → (completed, median, rule created_at)


def _sought(db: Connection, w: Window, dialect: str, completed: dict[int, int]) -> dict:
    """Medians of these rules (rule → completed tasks with a time), by index seek."""
    if not completed:
        return {}
    if dialect == "postgresql":
        return {r: m for r, m in db.execute(_percentile(w, sorted(completed)))}
    middle: dict[int, float] = {}
    rule_ids = sorted(completed)
    for start in range(0, len(rule_ids), MEDIANS_PER_STATEMENT):
        chunk = {r: completed[r] for r in rule_ids[start : start + MEDIANS_PER_STATEMENT]}
        stmt, params = medians(w, chunk)
        middle.update({r: m for r, m in db.execute(stmt, params)})
    return middle


def compute(session: Session, w: Window, fresh: Fresh | None = None) -> dict[str, Any]:
    """The figures as plain data (the API's StatsOut). All-time medians sought anew are
    added to `fresh`, for remember_medians() to keep once this read is over."""
    dialect = session.get_bind().dialect.name
    # One snapshot for every statement (a median's offset comes from the count before it),
    # when compute() starts the session's transaction.
    if not session.in_transaction():
        if dialect == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        elif dialect == "sqlite":  # pysqlite opens no transaction for reads on its own
            session.connection().exec_driver_sql("BEGIN")
    db = session.connection()  # Core rows: none of the ORM's per-row work
    q = queries(w, dialect)
    cut = split(w)
    edges = [edge_queries(w, start, end) for start, end in cut.edges]
    total_rules, active_rules = db.execute(q["rules"]).one()

    by_status = dict.fromkeys(TASK_STATUSES, 0)
    by_priority = dict.fromkeys(PRIORITIES, 0)
    counts: dict[int, dict[str, int]] = {}
    completed: dict[int, int] = {}  # with a completion time: what the median ranks
    parts = ([q] if cut.days else []) + edges
    for part in parts:
        for status, priority, n in db.execute(part["tasks_by_status_priority"]):
            by_status[status] = by_status.get(status, 0) + int(n)
            by_priority[priority] = by_priority.get(priority, 0) + int(n)
        for rule_id, status, n, timed in db.execute(part["per_rule_tasks"]):
            by = counts.setdefault(rule_id, {})
            by[status] = by.get(status, 0) + int(n)
            if status == "completed" and timed:
                completed[rule_id] = completed.get(rule_id, 0) + int(timed)
    total = sum(by_status.values())
    closed = total - by_status["cancelled"]

    created = {str(d)[:10]: int(n) for d, n in db.execute(q["tasks_per_day"])}
    per_day = []
    for day in w.days:
        start, end = _midnight(day), _midnight(day + timedelta(days=1))
        lo, hi = max(start, w.since or start), min(end, w.until or end)
        if (lo, hi) == (start, end):
            n = created.get(day.isoformat(), 0)
        else:  # the window's partial first or last day (its bars add up to the total)
            n = db.scalar(edge_queries(w, lo, hi)["created"]) or 0
        per_day.append({"date": day, "created": n})

    overdue: dict[int | None, int] = {}
    if w.since is None and w.until is None:
        overdue = {rule_id: by.get("open", 0) for rule_id, by in counts.items()}
        overdue[None] = by_status["open"] - sum(overdue.values())  # the tasks without a rule
        for sign, name in ((-1, "open_due_ahead"), (1, "open_due_earlier_today")):
            for rule_id, n in db.execute(q[name]):
                key = None if rule_id == NO_RULE else rule_id
                overdue[key] = overdue.get(key, 0) + sign * int(n)
        for rule_id, n in db.execute(q["overdue_this_hour"]):
            overdue[rule_id] = overdue.get(rule_id, 0) + int(n)
    else:
        overdue.update({r: n for r, n in db.execute(q["overdue_by_rule"])})

    rules = list(db.execute(q["rules_list"]))
    middle: dict[int, float] = {}
    if w.since is None and w.until is None:
        known = {r: (n, m) for r, n, m in db.execute(q["known_medians"])}
        stale = {r: n for r, n in completed.items() if known.get(r, (None,))[0] != n}
        middle.update({r: m for r, (n, m) in known.items() if completed.get(r) == n})
        sought = _sought(db, w, dialect, stale)
        middle.update(sought)
        if fresh is not None:
            born = {rule.id: rule.created_at for rule in rules}
            fresh.update({r: (stale[r], float(m), born[r]) for r, m in sought.items() if r in born})
    else:
        middle.update(_sought(db, w, dialect, completed))

    per_rule = []
    for rule in rules:
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

    running = dict(db.execute(q["running_batches"]).all())
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
            "cadences": db.scalar(q["cadences"]) or 0,
            "pending_firings": db.scalar(q["pending_firings"]) or 0,
        },
    }


def remember_medians(sessions: sessionmaker[Session], owner_id: int, fresh: Fresh) -> None:
    """Keep all-time medians sought by a stats read, each with the count it was taken over
    (a larger count is newer: a rule's completed tasks only grow), and only while its rule
    is the same rule (SQLite may give a deleted rule's id to the next one)."""
    if not fresh:
        return
    try:
        _remember(sessions, owner_id, fresh)
    except OperationalError:  # busy: the next read seeks them again, nothing is wrong
        pass


def _remember(sessions: sessionmaker[Session], owner_id: int, fresh: Fresh) -> None:
    table = RuleMedian.__table__
    rows = [(r, n, m, born) for r, (n, m, born) in sorted(fresh.items())]
    with transaction(sessions) as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        for start in range(0, len(rows), REMEMBERED_PER_STATEMENT):
            # A CTE: SQLite can't name a VALUES subquery's columns.
            new = (
                values(
                    column("rule_id", Integer),
                    column("completed", Integer),
                    column("median", Float),
                    column("born", Rule.created_at.type),
                    name="fresh",
                )
                .data(rows[start : start + REMEMBERED_PER_STATEMENT])
                .cte("fresh")
            )
            # The join keeps only rules still the same rule (a WHERE also keeps SQLite from
            # reading ON CONFLICT as the join's ON). Rule order: concurrent reads remembering
            # medians lock rows in the same order.
            row = (
                select(Rule.owner_id, new.c.rule_id, new.c.completed, new.c.median)
                .join_from(new, Rule, Rule.id == new.c.rule_id)
                .where(Rule.owner_id == owner_id, Rule.created_at == new.c.born)
                .order_by(new.c.rule_id)
            )
            stmt = dialect.insert(table).from_select(
                ["owner_id", "rule_id", "completed", "median"], row
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["owner_id", "rule_id"],
                set_={"completed": stmt.excluded.completed, "median": stmt.excluded.median},
                where=table.c.completed < stmt.excluded.completed,
            )
            session.execute(stmt)


def stats_of(sessions: sessionmaker[Session], w: Window) -> dict[str, Any]:
    """compute() in a read of its own, then the medians it sought kept in a short write."""
    fresh: Fresh = {}
    with sessions() as session:
        figures = compute(session, w, fresh)
    remember_medians(sessions, w.owner_id, fresh)
    return figures


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


class RunningCounts:
    """running_workflows() per owner, answered from memory for `max_age` seconds. A
    visibility count scans the server's executions (~0.1 s on a dev server that has run
    thousands): asked on every stats read, it was the read's largest cost. Past max_age the
    last counts are answered while one refresh runs behind them; an owner's first read waits
    for its count."""

    def __init__(self, client: Client, max_age: float = 5.0) -> None:
        self.client, self.max_age = client, max_age
        self._known: dict[int, tuple[float, dict[str, int] | None]] = {}
        self._refreshing: dict[int, asyncio.Task[dict[str, int] | None]] = {}

    async def of(self, owner_id: int) -> dict[str, int] | None:
        known = self._known.get(owner_id)
        if known is None:
            return await self._refresh(owner_id)
        at, counts = known
        if monotonic() - at > self.max_age and owner_id not in self._refreshing:
            refresh = asyncio.create_task(self._refresh(owner_id))
            self._refreshing[owner_id] = refresh
            refresh.add_done_callback(lambda _: self._refreshing.pop(owner_id, None))
        return counts

    async def _refresh(self, owner_id: int) -> dict[str, int] | None:
        counts = await running_workflows(self.client, owner_id)
        self._known[owner_id] = (monotonic(), counts)
        return counts
