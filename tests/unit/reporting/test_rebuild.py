"""`nudge stats rebuild`: tasks written behind the ORM's back (a bulk load) are missing from
the counters until it runs, and counted exactly after; another owner's counters stay as
they were."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import Rule, Task
from nudge.core.rollups import TOTALS
from nudge.platform.db import transaction
from nudge.platform.owners import create_owner
from nudge.reporting.stats import Window, stats_of


def _owner(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with transaction(sessions) as session:
        owner, _ = create_owner(session, f"rebuild-{uuid.uuid4().hex[:8]}")
        rule = Rule(
            owner_id=owner.id,
            name="r",
            trigger_type="activity",
            trigger_config={"activity_types": ["email_opened"]},
            task_title_template="t",
        )
        session.add(rule)
        session.flush()
        return owner.id, rule.id


def _bulk_load(sessions: sessionmaker[Session], owner_id: int, rule_id: int) -> None:
    """30 tasks by a Core INSERT: no mapper, no counters."""
    now = datetime.now(UTC)
    rows = []
    for i in range(30):
        created = now - timedelta(days=i % 5, hours=1)
        done = i % 3 == 0
        rows.append(
            {
                "owner_id": owner_id,
                "title": f"t{i}",
                "description": "",
                "source": "load",
                "idempotency_key": f"rebuild-{owner_id}-{i}",
                "priority": "high" if i % 2 else "low",
                "status": "completed" if done else "open",
                "rule_id": rule_id if i % 4 else None,
                "created_at": created,
                "due_at": created + timedelta(hours=12),
                "completed_at": created + timedelta(hours=i) if done else None,
                "hours_to_complete": float(i) if done else None,
                "reminder_status": "none",
            }
        )
    with transaction(sessions) as session:
        session.execute(insert(Task), rows)


def _totals(sessions: sessionmaker[Session], owner_id: int) -> set:
    with sessions() as session:
        rows = session.execute(select(TOTALS).where(TOTALS.c.owner_id == owner_id)).all()
        return {tuple(r) for r in rows if r._mapping["tasks"]}


def test_rebuild_counts_what_was_loaded(sessions: sessionmaker[Session], database_url: str) -> None:
    owner_id, rule_id = _owner(sessions)
    other_id, other_rule = _owner(sessions)
    _bulk_load(sessions, owner_id, rule_id)
    _bulk_load(sessions, other_id, other_rule)
    window = Window.of(owner_id, datetime.now(UTC), None, None)
    assert stats_of(sessions, window)["tasks"]["total"] == 0  # not counted yet

    done = subprocess.run(
        [sys.executable, "-m", "nudge", "stats", "rebuild", "--owner", str(owner_id)],
        env={**os.environ, "NUDGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "task_total_counts:" in done.stdout and "done in" in done.stderr

    figures = stats_of(sessions, Window.of(owner_id, datetime.now(UTC), None, None))
    assert figures["tasks"]["total"] == 30
    assert figures["tasks"]["by_status"] == {"open": 20, "completed": 10, "cancelled": 0}
    assert figures["tasks"]["by_priority"]["high"] == 15
    assert figures["tasks"]["overdue"] == sum(
        1 for i in range(30) if i % 3 and (i % 5) * 24 + 1 > 12
    )
    (row,) = figures["per_rule"]
    # Completed with a rule: i in 3, 6, 9, 15, 18, 21, 27 (i % 4 != 0) → median 15 hours.
    assert (row["tasks"], row["completed"], row["median_hours_to_complete"]) == (22, 7, 15.0)
    assert sum(d["created"] for d in figures["tasks_per_day"]) == 30
    assert _totals(sessions, other_id) == set()  # the other owner was not rebuilt


def test_rebuild_of_everyone_changes_no_counter_kept_exact(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    owner_id, _ = _owner(sessions)
    with transaction(sessions) as session:
        session.add(
            Task(
                owner_id=owner_id,
                title="kept",
                source="test",
                idempotency_key=f"rebuild-kept-{owner_id}",
                due_at=datetime.now(UTC),
            )
        )
    before = _totals(sessions, owner_id)
    done = subprocess.run(
        [sys.executable, "-m", "nudge", "stats", "rebuild"],
        env={**os.environ, "NUDGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _totals(sessions, owner_id) == before == {(owner_id, 0, "open", "medium", 1, 0)}
