"""The stats roll-ups, kept in the transaction that writes the task: every insert of a task
and every change of its status, priority, due time, rule or completion time moves its
counters (TaskDayCount, TaskTotalCount, TaskCreatedCount, OpenDueCount, OpenDueHourCount),
so they commit or roll back with the change itself. Hooked on the mapper rather than called
by each writer: a path that changes a task through the ORM can't forget them.

A change is a move from what the task was counted under to what it is counted under now.
The flushes note the moves; just before the commit they are netted and upserted, in key
order, so a counter row (shared by an owner's tasks of one day, rule, status and priority) is
locked for the commit only. A bulk UPDATE of tasks bypasses the mapper: the one there is (a
rule's deletion) calls forget_rule. `nudge stats rebuild` recomputes every counter.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Table,
    TextClause,
    bindparam,
    delete,
    event,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapper, Session, object_session

from nudge.core.models import (
    OpenDueCount,
    OpenDueHourCount,
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
OPEN_HOURS: Table = OpenDueHourCount.__table__  # type: ignore[assignment]
COUNTED = ("owner_id", "created_at", "rule_id", "status", "priority", "hours_to_complete", "due_at")


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date() if at.tzinfo else at.date()


def utc_hour(at: datetime) -> int:
    """Hours since the epoch, UTC (naive values are UTC): OpenDueHourCount's key."""
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() // 3600)


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
    due_hour: int

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
            due_hour=utc_hour(values["due_at"]),
        )


def _dialect(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite


Key = tuple[str, tuple]  # (table name, its primary key's values in column order)
PENDING = "nudge.rollups"  # session.info: the counters' moves of the flushed, uncommitted work
MEDIANS: Table = RuleMedian.__table__  # type: ignore[assignment]
TABLES = {t.name: t for t in (DAYS, TOTALS, CREATED, OPEN_DUE, OPEN_HOURS, MEDIANS)}


def _add(pending: dict[Key, dict[str, int]], table: Table, key: dict, add: dict) -> None:
    at = (table.name, tuple(key[c.name] for c in table.primary_key.columns))
    slot = pending.setdefault(at, dict.fromkeys(add, 0))
    for name, n in add.items():
        slot[name] += n


def _count(pending: dict, c: Counted, sign: int) -> None:
    by = {"owner_id": c.owner_id, "rule_id": c.rule_id, "status": c.status, "priority": c.priority}
    add = {"tasks": sign, "timed": sign * c.timed}
    _add(pending, DAYS, {**by, "day": c.day}, add)
    _add(pending, TOTALS, by, add)


def _count_open(pending: dict, c: Counted, sign: int) -> None:
    if c.status == "open":
        key = {"owner_id": c.owner_id, "rule_id": c.rule_id, "day": c.due_day}
        _add(pending, OPEN_DUE, key, {"tasks": sign})
        key = {"owner_id": c.owner_id, "rule_id": c.rule_id, "hour": c.due_hour}
        _add(pending, OPEN_HOURS, key, {"tasks": sign})


def move(pending: dict, before: Counted | None, after: Counted | None) -> None:
    """Count a task inserted (before None), changed, or deleted (after None)."""
    if before is not None and before.timed and (after is None or after.rule_id != before.rule_id):
        # A completed task leaves its rule's ranked set: the remembered median (valid while
        # that set only grows) goes.
        _add(pending, MEDIANS, {"owner_id": before.owner_id, "rule_id": before.rule_id}, {})
    if before is None or after is None:
        for c, sign in ((before, -1), (after, +1)):
            if c is not None:
                _count(pending, c, sign)
                _add(pending, CREATED, {"owner_id": c.owner_id, "day": c.day}, {"tasks": sign})
                _count_open(pending, c, sign)
        return
    if (before.owner_id, before.day) != (after.owner_id, after.day):
        raise ValueError("a task's owner and creation time never change")
    _count(pending, before, -1)
    _count(pending, after, +1)
    _count_open(pending, before, -1)
    _count_open(pending, after, +1)


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


def _pending(task: Task) -> dict[Key, dict[str, int]]:
    session = object_session(task)
    assert session is not None  # a flushed object belongs to the session flushing it
    return session.info.setdefault(PENDING, {})


def _inserted(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(_pending(task), None, Counted.of(_now(task)))


def _updated(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(_pending(task), Counted.of(_then(task)), Counted.of(_now(task)))


def _deleted(mapper: Mapper, connection: Connection, task: Task) -> None:
    move(_pending(task), Counted.of(_then(task)), None)


def _apply(session: Session) -> None:
    """Just before the commit: the transaction's moves, netted, in one fixed key order (two
    transactions never wait on each other's counters crosswise), so a counter row is locked
    only for the commit itself. One multi-row statement per table; on PostgreSQL all of them
    in one statement (data-modifying CTEs): one round trip, not one per table."""
    session.flush()  # the last changes' moves first
    pending: dict[Key, dict[str, int]] = session.info.pop(PENDING, {})
    chunks: list[tuple[str, list[dict[str, Any]]]] = []
    for name in sorted({name for name, _ in pending}):
        columns = [c.name for c in TABLES[name].primary_key.columns]
        rows = []
        for key in sorted(key for at, key in pending if at == name):
            add = pending[(name, key)]  # {} for a median: its row goes
            if TABLES[name] is MEDIANS or any(add.values()):
                rows.append(dict(zip(columns, key, strict=True)) | add)
        step = ROWS_PER_STATEMENT
        chunks += [(name, rows[i : i + step]) for i in range(0, len(rows), step)]
    if not chunks:
        return
    connection = session.connection()
    shape = tuple((name, len(rows)) for name, rows in chunks)
    params = {
        f"p{at}_{i}_{column}": value
        for at, (_, rows) in enumerate(chunks)
        for i, row in enumerate(rows)
        for column, value in row.items()
    }
    for stmt in _moves(shape, connection.dialect.name == "postgresql"):
        connection.execute(stmt, params)


ROWS_PER_STATEMENT = 500  # well under SQLite's bound-parameter limit


@lru_cache(maxsize=512)
def _moves(shape: tuple[tuple[str, int], ...], one_statement: bool) -> list[TextClause]:
    """The statements for chunks of this shape ((table, rows) each), built once per shape: a
    multi-row VALUES is a statement SQLAlchemy can't cache, and building one per commit cost
    more than the round trips it saves. Parameters are named p{chunk}_{row}_{column}."""
    parts: list[tuple[str, list[BindParameter]]] = []
    for at, (name, n) in enumerate(shape):
        table = TABLES[name]
        keys = [c.name for c in table.primary_key.columns]
        columns = keys if table is MEDIANS else [c.name for c in table.columns]
        binds = [
            bindparam(f"p{at}_{i}_{c}", type_=table.c[c].type) for i in range(n) for c in columns
        ]
        values = ", ".join(
            "(" + ", ".join(f":p{at}_{i}_{c}" for c in columns) + ")" for i in range(n)
        )
        if table is MEDIANS:  # a completed task left its rule: the remembered median goes
            sql = f"DELETE FROM {name} WHERE ({', '.join(keys)}) IN ({values})"
        else:
            added = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in columns if c not in keys)
            sql = (
                f"INSERT INTO {name} ({', '.join(columns)}) VALUES {values} "
                f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
            )
        parts.append((sql, binds))
    if one_statement and len(parts) > 1:
        ctes = ", ".join(f"move_{i} AS ({sql})" for i, (sql, _) in enumerate(parts))
        return [text(f"WITH {ctes} SELECT 1").bindparams(*(b for _, bs in parts for b in bs))]
    return [text(sql).bindparams(*binds) for sql, binds in parts]


def _forget(session: Session, *_: object) -> None:
    session.info.pop(PENDING, None)


def listen() -> None:
    """Hook the counters on Task and on every session's commit (models.py calls this once,
    at import). Nothing in Nudge rolls back a savepoint holding task changes; one would
    leave its moves to the commit."""
    event.listen(Task, "after_insert", _inserted)
    event.listen(Task, "after_update", _updated)
    event.listen(Task, "after_delete", _deleted)
    event.listen(Session, "before_commit", _apply)
    event.listen(Session, "after_rollback", _forget)


def forget_rule(session: Session, owner_id: int, rule_id: int) -> None:
    """A deleted rule's tasks now count as tasks without a rule (their rule_id is cleared by
    a bulk UPDATE in the same transaction); its median goes (SQLite may reuse its id)."""
    connection = session.connection()
    for table in (DAYS, TOTALS, OPEN_DUE, OPEN_HOURS):
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
