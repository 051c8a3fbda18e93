"""The stats roll-ups, kept in the flush that writes the task: every insert of a task and
every change of its status, priority, due time, rule or completion time moves its counters
(TaskDayCount, TaskTotalCount, TaskCreatedCount, OpenDueCount) on the same connection, so
they commit or roll back with the change itself. Hooked on the mapper rather than called by
each writer: a path that changes a task through the ORM can't forget them.

A change is a move from what the task was counted under to what it is counted under now: an
upsert per counter that differs. A counter row is contended only by tasks of one owner, rule,
day, status and priority written at the same moment. A bulk UPDATE of tasks bypasses the
mapper: the one there is (a rule's deletion) calls forget_rule. `nudge stats rebuild`
recomputes every counter from the tasks table.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, event, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapper, Session

from nudge.core.models import (
    OpenDueCount,
    RuleMedian,
    Task,
    TaskCreatedCount,
    TaskDayCount,
    TaskTotalCount,
)

NO_RULE = 0  # the counters' rule_id for tasks without one (a key column can't be NULL)
DAYS: Table = TaskDayCount.__table__  # type: ignore[assignment]
TOTALS: Table = TaskTotalCount.__table__  # type: ignore[assignment]
CREATED: Table = TaskCreatedCount.__table__  # type: ignore[assignment]
OPEN_DUE: Table = OpenDueCount.__table__  # type: ignore[assignment]
COUNTED = ("owner_id", "created_at", "rule_id", "status", "priority", "hours_to_complete", "due_at")


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date() if at.tzinfo else at.date()


@dataclass(frozen=True)
class Counted:
    """What one task is counted under."""

    owner_id: int
    day: date  # created, UTC
    rule_id: int
    status: str
    priority: str
    timed: int  # 1 when completed with a completion time (what a median ranks)
    due_day: date

    @classmethod
    def of(cls, values: dict[str, Any]) -> "Counted":
        return cls(
            owner_id=values["owner_id"],
            day=utc_day(values["created_at"]),
            rule_id=values["rule_id"] if values["rule_id"] is not None else NO_RULE,
            status=values["status"],
            priority=values["priority"],
            timed=int(values["status"] == "completed" and values["hours_to_complete"] is not None),
            due_day=utc_day(values["due_at"]),
        )


def _dialect(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite


def _upsert(connection: Connection, table: Table, key: dict[str, Any], add: dict[str, int]) -> None:
    """Add `add` to the counters of the row at `key`, creating it first."""
    stmt = _dialect(connection).insert(table).values(**key, **add)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: table.c[c] + stmt.excluded[c] for c in add}
    )
    connection.execute(stmt)


def _count(connection: Connection, c: Counted, sign: int) -> None:
    by = {"owner_id": c.owner_id, "rule_id": c.rule_id, "status": c.status, "priority": c.priority}
    add = {"tasks": sign, "timed": sign * c.timed}
    _upsert(connection, DAYS, {**by, "day": c.day}, add)
    _upsert(connection, TOTALS, by, add)


def _count_open(connection: Connection, c: Counted, sign: int) -> None:
    if c.status == "open":
        key = {"owner_id": c.owner_id, "rule_id": c.rule_id, "day": c.due_day}
        _upsert(connection, OPEN_DUE, key, {"tasks": sign})


def move(connection: Connection, before: Counted | None, after: Counted | None) -> None:
    """Count a task inserted (before None), changed, or deleted (after None)."""
    if before is None or after is None:
        for c, sign in ((before, -1), (after, +1)):
            if c is not None:
                _count(connection, c, sign)
                _upsert(
                    connection, CREATED, {"owner_id": c.owner_id, "day": c.day}, {"tasks": sign}
                )
                _count_open(connection, c, sign)
        return
    if (before.owner_id, before.day) != (after.owner_id, after.day):
        raise ValueError("a task's owner and creation time never change")
    if (before.rule_id, before.status, before.priority, before.timed) != (
        after.rule_id,
        after.status,
        after.priority,
        after.timed,
    ):
        _count(connection, before, -1)
        _count(connection, after, +1)
    if (before.status, before.rule_id, before.due_day) != (
        after.status,
        after.rule_id,
        after.due_day,
    ):
        _count_open(connection, before, -1)
        _count_open(connection, after, +1)


def _now(task: Task) -> dict[str, Any]:
    return {name: getattr(task, name) for name in COUNTED}


def _then(task: Task) -> dict[str, Any]:
    """The values the row had before this flush (active_history keeps the replaced ones)."""
    attrs = inspect(task).attrs
    values = {}
    for name in COUNTED:
        history = attrs[name].history
        values[name] = history.deleted[0] if history.deleted else getattr(task, name)
    return values


def _inserted(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(connection, None, Counted.of(_now(task)))


def _updated(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(connection, Counted.of(_then(task)), Counted.of(_now(task)))


def _deleted(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(connection, Counted.of(_then(task)), None)


def listen() -> None:
    """Hook the counters on Task (models.py calls this once, at import)."""
    event.listen(Task, "after_insert", _inserted)
    event.listen(Task, "after_update", _updated)
    event.listen(Task, "after_delete", _deleted)


def forget_rule(session: Session, owner_id: int, rule_id: int) -> None:
    """A deleted rule's tasks now count as tasks without a rule (their rule_id is cleared by
    a bulk UPDATE in the same transaction); its median goes (SQLite may reuse its id)."""
    connection = session.connection()
    for table in (DAYS, TOTALS, OPEN_DUE):
        mine = (table.c.owner_id == owner_id, table.c.rule_id == rule_id)
        keys = [c.name for c in table.primary_key.columns]
        counts = [c.name for c in table.c if not c.primary_key]
        moved = select(
            *(literal(NO_RULE).label(k) if k == "rule_id" else table.c[k] for k in keys),
            *(table.c[c] for c in counts),
        ).where(*mine)
        stmt = _dialect(connection).insert(table).from_select([*keys, *counts], moved)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in counts}
        )
        connection.execute(stmt)
        connection.execute(delete(table).where(*mine))
    connection.execute(
        delete(RuleMedian).where(RuleMedian.owner_id == owner_id, RuleMedian.rule_id == rule_id)
    )
