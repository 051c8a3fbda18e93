"""`nudge stats rebuild`: every roll-up counter recomputed from the tasks table.

The counters are kept exact in each task's own transaction (nudge/core/rollups.py); this is
for tasks written behind the ORM's back (a bulk load, a restore, a hand-run UPDATE) and for
checking. It runs in the caller's transaction, so stats never see half of it: on PostgreSQL
the counters of the owners rebuilt are locked until the commit."""

from typing import Any

from sqlalchemy import Date, Integer, Table, case, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from nudge.core.models import RuleMedian, Task
from nudge.core.rollups import CREATED, DAYS, NO_RULE, OPEN_DUE, OPEN_HOURS, TOTALS

TABLES: tuple[Table, ...] = (DAYS, TOTALS, CREATED, OPEN_DUE, OPEN_HOURS, RuleMedian.__table__)  # type: ignore[assignment]


def utc_day(column: Any, dialect: str) -> Any:
    """A UTC timestamp column's UTC calendar day, in SQL."""
    if dialect == "postgresql":  # timestamptz → the UTC day, whatever the session zone
        return cast(func.timezone("UTC", column), Date)
    # SQLite keeps naive UTC text, "YYYY-MM-DD HH:MM:SS…": the day is its first ten characters
    # (a substring costs far less per row than parsing it with date()).
    return func.substr(column, 1, 10)


def utc_hour(column: Any, dialect: str) -> Any:
    """A UTC timestamp column's hours since the epoch (nudge.core.rollups.utc_hour), in SQL."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), Integer)
    # The hour's own start is a whole number of hours from the epoch: exact division, before
    # 1970 too (SQLite's integer division truncates toward zero).
    start = func.strftime("%s", func.substr(column, 1, 13).concat(":00:00"))
    return cast(start, Integer) / 3600


def rebuild(session: Session, owner_id: int | None = None) -> dict[str, int]:
    """Recompute the counters of one owner (None: everyone's); rows written per table."""
    dialect = session.get_bind().dialect.name
    mine = [Task.owner_id == owner_id] if owner_id is not None else []
    for table in TABLES:
        where = [table.c.owner_id == owner_id] if owner_id is not None else []
        session.execute(delete(table).where(*where))
    day, due = utc_day(Task.created_at, dialect), utc_day(Task.due_at, dialect)
    hour = utc_hour(Task.due_at, dialect)
    rule = func.coalesce(Task.rule_id, NO_RULE)
    timed = func.sum(
        case(
            (Task.status == "completed", case((Task.hours_to_complete.is_(None), 0), else_=1)),
            else_=0,
        )
    )
    written: dict[str, int] = {}

    def fill(table: Table, columns: list[str], query: Any) -> None:
        result = session.execute(insert(table).from_select(columns, query))
        written[table.name] = result.rowcount  # type: ignore[attr-defined]  # an INSERT's

    fill(
        DAYS,
        ["owner_id", "day", "rule_id", "status", "priority", "tasks", "timed"],
        select(Task.owner_id, day, rule, Task.status, Task.priority, func.count(), timed)
        .where(*mine)
        .group_by(Task.owner_id, day, rule, Task.status, Task.priority),
    )
    # The totals and the chart are sums of the day counters (far fewer rows than tasks).
    d = DAYS.c
    of_days = [d.owner_id == owner_id] if owner_id is not None else []
    fill(
        TOTALS,
        ["owner_id", "rule_id", "status", "priority", "tasks", "timed"],
        select(d.owner_id, d.rule_id, d.status, d.priority, func.sum(d.tasks), func.sum(d.timed))
        .where(*of_days)
        .group_by(d.owner_id, d.rule_id, d.status, d.priority),
    )
    fill(
        CREATED,
        ["owner_id", "day", "tasks"],
        select(d.owner_id, d.day, func.sum(d.tasks)).where(*of_days).group_by(d.owner_id, d.day),
    )
    for table, when, at in ((OPEN_DUE, "day", due), (OPEN_HOURS, "hour", hour)):
        fill(
            table,
            ["owner_id", "rule_id", when, "tasks"],
            select(Task.owner_id, rule, at, func.count())
            .where(*mine, Task.status == "open")
            .group_by(Task.owner_id, rule, at),
        )
    return written
