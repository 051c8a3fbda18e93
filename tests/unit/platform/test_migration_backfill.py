"""0004 fills the new stats columns from the rows already there (on this run's backend)."""

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from nudge.platform.migrate import alembic_config


@pytest.fixture
def empty_url(tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    base = os.environ.get("NUDGE_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"nudge_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_0004_backfills_rule_hours_and_last_fired(empty_url):
    cfg = alembic_config(empty_url)
    command.upgrade(cfg, "0003")
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        run = conn.execute
        run(
            text(
                "INSERT INTO owners (id, name, api_key_hash, api_key_prefix, created_at) "
                "VALUES (1, 'o', 'h', 'p', '2026-11-01 00:00:00')"
            )
        )
        run(
            text(
                "INSERT INTO automation_rules (id, owner_id, name, trigger_type, trigger_config, "
                "task_title_template, task_description_template, task_priority, delay_hours, "
                "is_active, times_triggered, tasks_created, created_at, updated_at) VALUES "
                "(7, 1, 'r', 'activity', '{}', 't', '', 'high', 0, true, 1, 1, "
                "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"
            )
        )
        run(
            text(
                "INSERT INTO crm_events (id, owner_id, event_id, kind, occurred_at, created_at) "
                "VALUES (1, 1, 'e', 'activity', '2026-11-02 08:00:00', '2026-11-02 08:00:00')"
            )
        )
        run(
            text(
                "INSERT INTO rule_firings (owner_id, rule_id, event_row_id, workflow_id, "
                "create_at, due_at, state, context, created_at, updated_at) VALUES "
                "(1, 7, 1, 'rule-7-1', '2026-11-02 08:00:00', '2026-11-02 08:00:00', 'created', "
                "'{}', '2026-11-02 08:00:00', '2026-11-02 08:00:00')"
            )
        )
        for key, source, status, done in [
            ("a", "rule:7", "completed", "'2026-11-02 14:30:00'"),
            ("b", "manual", "completed", "'2026-11-02 09:00:00'"),
            ("c", "rule:7", "open", "NULL"),
            ("d", "rule:x7", "open", "NULL"),  # not a rule id: left alone, not a failure
        ]:
            run(text("INSERT INTO tasks (owner_id, title, description, priority, status, due_at, "
                     "completed_at, source, idempotency_key, reminder_status, created_at) VALUES "
                     f"(1, 't', '', 'low', '{status}', '2026-11-03 00:00:00', {done}, "
                     f"'{source}', '{key}', 'none', '2026-11-02 08:00:00')"))  # fmt: skip
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0003")  # and back: the way down works and keeps the rows
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idempotency_key, rule_id, hours_to_complete FROM tasks ORDER BY 1")
        ).all()
        last = conn.execute(text("SELECT last_fired_at FROM automation_rules")).scalar_one()
    engine.dispose()
    assert [(k, r) for k, r, _ in rows] == [("a", 7), ("b", None), ("c", 7), ("d", None)]
    hours = {k: h for k, _, h in rows}
    assert hours["a"] == pytest.approx(6.5) and hours["b"] == pytest.approx(1.0)
    assert hours["c"] is None and hours["d"] is None
    assert str(last).startswith("2026-11-02 08:00:00")
