"""A CRM's worth of rows for the stats benchmark: fresh databases, filled server-side.

Tasks come from INSERT … SELECT over a number series (generate_series on PostgreSQL, a
recursive CTE on SQLite), so ten million rows never pass through Python (faster than COPY or
executemany, which would have to ship every row from here). Every column derives from the row
number by integer arithmetic, identically on both databases; the keys are zero-padded so the
unique index grows at its right edge. The secondary indexes of tasks are dropped for the load
and built again after it (one sort each instead of ten million random inserts); SQLite loads
with journal_mode=OFF and synchronous=OFF, then goes back to WAL. The roll-ups are then
rebuilt from the tasks table (nudge.reporting.rollups.rebuild), in one transaction.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench.common import say
from nudge.core.models import Contact, CrmEvent, Owner, Rule, RuleFiring, Task, TaskBatch
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.rules.triggers import ACTIVITY_TYPES, CADENCES

CONTACTS = 100_000
RULES = 500
DAYS = 90
CHUNK = 1_000_000  # one statement each, so the progress lines move

# Row i: h is a cheap 32-bit hash of i; c its creation time (epoch seconds, rising with i as
# real inserts do). Older tasks are mostly done; the last two weeks are mostly open.
TASKS = """
INSERT INTO tasks (owner_id, contact_id, title, description, priority, status, due_at,
    completed_at, hours_to_complete, source, rule_id, idempotency_key, reminder_status,
    created_at)
SELECT :owner, :contact0 + (i * 13) % :contacts, 'Follow up #' || i, '',
    CASE WHEN p < 3 THEN 'low' WHEN p < 7 THEN 'medium' WHEN p < 9 THEN 'high' ELSE 'urgent' END,
    status, {due}, CASE WHEN status = 'completed' THEN {done} END,
    CASE WHEN status = 'completed' THEN ({least_done} - c) / 3600.0 END,
    CASE WHEN r IS NULL THEN 'manual' ELSE 'rule:' || r END, r, :key || {padded}, 'none',
    {created}
FROM (
    SELECT i, c, (h / 16384) % 10 AS p,
        c + 3600 * (1 + (h / 65536) % 336) AS due,
        c + 60 * (5 + (h / 256) % 4320) AS done,
        CASE WHEN (h / 1024) % 10 < 8 THEN :rule0 + (i * 7) % :rules END AS r,
        CASE WHEN h % 100 < CASE WHEN c > :recent THEN 30 ELSE 75 END THEN 'completed'
            WHEN h % 100 < CASE WHEN c > :recent THEN 35 ELSE 85 END THEN 'cancelled'
            ELSE 'open' END AS status
    FROM (SELECT i, (i * 2654435761) % 4294967296 AS h, :start + i * :span / :n AS c
          FROM {series}) AS g
) AS t
"""
SERIES = {
    "postgresql": "generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)) AS s(i)",
    "sqlite": "(WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i < :hi)"
    " SELECT i FROM s) AS s",
}


# Every tenth contact on a cadence, in turn.
CONTACTS_SQL = """
INSERT INTO contacts (owner_id, external_id, name, email, status, cadence, created_at,
    updated_at)
SELECT :owner, 'c' || i, 'Contact ' || i, 'c' || i || '@example.com', 'lead',
    CASE WHEN i % 10 = 0 THEN CASE (i / 10) % {k} {cadences} END END, {now}, {now}
FROM {series}
"""


def _contacts_sql(dialect: str) -> str:
    cadences = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CADENCES))
    series = SERIES[dialect].replace(":lo", "0").replace(":hi", ":n - 1")
    now = "now()" if dialect == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    return CONTACTS_SQL.format(k=len(CADENCES), cadences=cadences, now=now, series=series)


def _tasks_sql(dialect: str) -> str:
    if dialect == "postgresql":
        ts, least, padded = "to_timestamp({})", "LEAST({}, :now)", "lpad(CAST(i AS TEXT), 10, '0')"
    else:  # the text SQLAlchemy writes for naive UTC, so comparisons stay lexical
        ts, least = "datetime({}, 'unixepoch') || '.000000'", "min({}, :now)"
        padded = "printf('%010d', i)"
    return TASKS.format(
        padded=padded,
        series=SERIES[dialect],
        due=ts.format("due"),
        done=ts.format(least.format("done")),
        least_done=least.format("done"),
        created=ts.format("c"),
    )


@dataclass(frozen=True)
class Filled:
    """The measured owner and its API key; the small owner (1 % of the tasks) beside it."""

    owner_id: int
    key: str
    small_owner_id: int


def reset_postgres(url: str) -> str | None:
    """Create the database if missing and empty its schema; the reason if unreachable."""
    parsed = make_url(url)
    args = {"connect_timeout": 5}
    try:
        server = create_engine(
            parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", connect_args=args
        )
        with server.connect() as conn:
            known = "SELECT 1 FROM pg_database WHERE datname = :d"
            if not conn.scalar(text(known), {"d": parsed.database}):
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        server.dispose()
        db = create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args=args)
        with db.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    except OperationalError as err:
        return str(err.orig).strip().splitlines()[0]
    return None


@dataclass(frozen=True)
class Tenant:
    """An owner's ids: contacts and rules are consecutive from contact0 and rule0."""

    owner_id: int
    key: str
    contact0: int
    contacts: int
    rule0: int
    rules: int


def _people(engine: Engine, contacts: int, rules: int, name: str) -> Tenant:
    """An owner with contacts (every tenth on a cadence) and activity rules (every fifth off)."""
    now = datetime.now(UTC)
    with transaction(make_session_factory(engine)) as session:
        owner, key = create_owner(session, name)
        dialect = session.get_bind().dialect.name
        session.execute(text(_contacts_sql(dialect)), {"owner": owner.id, "n": contacts})
        session.execute(
            insert(Rule),
            [
                {
                    "owner_id": owner.id,
                    "name": f"Rule {i}",
                    "trigger_type": "activity",
                    "trigger_config": {"activity_types": [ACTIVITY_TYPES[i % 7]]},
                    "task_title_template": "Follow up with {{ contact_name }}",
                    "delay_hours": i % 48,
                    "is_active": i % 5 != 0,
                    "created_at": now - timedelta(days=DAYS + 10),
                }
                for i in range(rules)
            ],
        )
        contact0 = session.scalar(select(func.min(Contact.id)).where(Contact.owner_id == owner.id))
        rule0 = session.scalar(select(func.min(Rule.id)).where(Rule.owner_id == owner.id))
        return Tenant(owner.id, key, contact0 or 0, contacts, rule0 or 0, rules)


# The secondary indexes of tasks as the database holds them (not as the model says: the
# migrations made them), to drop for the load and create again after it.
INDEXES = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
    " AND sql IS NOT NULL",
    "postgresql": "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
    " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
    " WHERE t.relname = 'tasks' AND NOT EXISTS"
    " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
}


@contextmanager
def loading(engine: Engine) -> Iterator[Connection]:
    """One connection set up for a bulk load of tasks, undone after it."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        indexes = conn.exec_driver_sql(INDEXES[dialect]).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        if dialect == "sqlite":  # a throwaway file: no journal, no fsyncs, a big cache
            conn.commit()
            conn.exec_driver_sql("PRAGMA journal_mode=OFF")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-1048576")
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # the rows are consistent by make
        else:
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        conn.commit()
        yield conn
        start = time.perf_counter()
        for name, ddl in indexes:
            conn.exec_driver_sql(ddl)
            conn.commit()
            say(f"    index {name} built ({time.perf_counter() - start:5.1f} s)")
        if dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _tasks(conn: Connection, tenant: Tenant, n: int) -> None:
    dialect = conn.dialect.name
    now = int(datetime.now(UTC).timestamp())
    sql = text(_tasks_sql(dialect))
    params = {
        "owner": tenant.owner_id,
        "contact0": tenant.contact0,
        "contacts": tenant.contacts,
        "rule0": tenant.rule0,
        "rules": tenant.rules,
        "key": f"bench-o{tenant.owner_id}-",
        "now": now,
        "start": now - DAYS * 86400,
        "span": DAYS * 86400,
        "recent": now - 13 * 86400,
        "n": n,
    }
    start = time.perf_counter()
    for lo in range(1, n + 1, CHUNK):
        hi = min(lo + CHUNK - 1, n)
        conn.execute(sql, {**params, "lo": lo, "hi": hi})
        conn.commit()
        if n > CHUNK:
            say(f"    tasks {hi:>11,} / {n:,}  ({time.perf_counter() - start:5.1f} s)")


def _running(engine: Engine, tenant: Tenant) -> None:
    """Batches (most still running), and rule firings (a third still scheduled)."""
    now = datetime.now(UTC)
    owner, contact0, n = tenant.owner_id, tenant.contact0, tenant.rules
    with transaction(make_session_factory(engine)) as session:
        session.execute(
            insert(TaskBatch),
            [
                {
                    "owner_id": owner,
                    "kind": "sequence" if i % 3 else "campaign",
                    "name": f"Batch {i}",
                    "contact_id": contact0 + i,
                    "workflow_id": f"sequence-{owner}-{contact0 + i}-standard",
                    "status": "running" if i % 4 else "completed",
                    "planned": 5,
                    "created_at": now - timedelta(hours=i),
                }
                for i in range(2 * n)
            ],
        )
        session.execute(
            insert(CrmEvent),
            [
                {
                    "owner_id": owner,
                    "event_id": f"ev-{i}",
                    "contact_id": contact0 + i,
                    "kind": "activity",
                    "activity_type": ACTIVITY_TYPES[i % 7],
                    "occurred_at": now - timedelta(minutes=i),
                    "processed_at": now - timedelta(minutes=i),
                }
                for i in range(10 * n)
            ],
        )
        event0 = session.scalar(select(func.min(CrmEvent.id)).where(CrmEvent.owner_id == owner))
        session.execute(
            insert(RuleFiring),
            [
                {
                    "owner_id": owner,
                    "rule_id": tenant.rule0 + i % n,
                    "event_row_id": (event0 or 0) + i,
                    "contact_id": contact0 + i,
                    "workflow_id": f"rule-{owner}-{i}",
                    "create_at": now + timedelta(hours=1 + i % 48),
                    "due_at": now + timedelta(hours=2 + i % 48),
                    "state": "scheduled" if i % 3 == 0 else "created",
                }
                for i in range(10 * n)
            ],
        )


# Counters as the app keeps them: a firing per task plus the ones still scheduled (one
# grouped pass over tasks, not one per rule).
RULE_COUNTERS = """
UPDATE automation_rules SET tasks_created = c.n, times_triggered = c.n + c.scheduled,
    last_fired_at = c.last
FROM (SELECT r.id AS rule_id, coalesce(t.n, 0) AS n, t.last,
        (SELECT count(*) FROM rule_firings f WHERE f.rule_id = r.id AND f.state = 'scheduled')
            AS scheduled
      FROM automation_rules r LEFT JOIN
        (SELECT rule_id, count(*) AS n, max(created_at) AS last FROM tasks
         WHERE rule_id IS NOT NULL GROUP BY rule_id) t ON t.rule_id = r.id) AS c
WHERE c.rule_id = automation_rules.id
"""


def rebuild_rollups(engine: Engine) -> str:
    """The stats' roll-ups recomputed from the tasks just loaded, in one transaction."""
    try:
        from nudge.reporting.rollups import rebuild
    except ImportError:  # before the roll-ups: stats read the tasks table itself
        return "no roll-ups to rebuild (nudge.reporting.rollups.rebuild missing)"
    with transaction(make_session_factory(engine)) as session:
        written = rebuild(session)
    return "roll-ups rebuilt: " + ", ".join(f"{k} {v:,}" for k, v in (written or {}).items())


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        # VACUUM too: autovacuum would soon set the visibility map a real table has, and
        # index-only scans need it; doing it now keeps it from landing mid-measurement.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            # The load's dirty pages written now, not by the checkpointer mid-measurement.
            conn.exec_driver_sql("CHECKPOINT")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.commit()
    # Gigabytes just written: the kernel's writeback of them competes with the measurement.
    os.sync()


def fill(url: str, n_tasks: int, contacts: int = CONTACTS, rules: int = RULES) -> Filled:
    """Migrate, then one big owner and one small one (so the owner filters matter)."""
    start = time.perf_counter()

    def step(what: str) -> None:
        say(f"  {what:<60} {time.perf_counter() - start:6.1f} s")

    upgrade(url)
    step("migrated")
    engine = make_engine(url)
    big = _people(engine, contacts, rules, "bench-stats")
    small = _people(engine, max(contacts // 100, 1), max(rules // 20, 1), "bench-other")
    step(f"{contacts:,} contacts, {rules} rules (+ a small owner)")
    small_tasks = max(n_tasks // 100, 1)
    with loading(engine) as conn:
        _tasks(conn, big, n_tasks)
        _tasks(conn, small, small_tasks)
        step(f"{n_tasks:,} tasks (+ {small_tasks:,} for the small owner), indexes off")
    step("indexes built")
    for tenant in (big, small):
        _running(engine, tenant)
    with engine.begin() as conn:
        conn.execute(text(RULE_COUNTERS))
    step("batches, events, firings, rule counters")
    step(rebuild_rollups(engine))
    _analyze(engine)
    step("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()
    return Filled(big.owner_id, big.key, small.owner_id)


def row_counts(engine: Engine, owner_id: int) -> dict[str, int]:
    """What the fill left, to check it before trusting any timing."""
    with engine.connect() as conn:
        counts = {
            table.__tablename__: conn.scalar(select(func.count()).select_from(table)) or 0
            for table in (Owner, Contact, Rule, Task, TaskBatch, CrmEvent, RuleFiring)
        }
        mine = select(func.count()).where(Task.owner_id == owner_id)
        counts["tasks of the measured owner"] = conn.scalar(mine) or 0
    return counts
