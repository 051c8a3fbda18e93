"""The counters move with the transaction: a rolled-back change moves nothing, and concurrent
changes of one owner's tasks (priorities swapped crosswise, completions) neither deadlock
nor lose a count."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import Task
from nudge.core.rollups import TOTALS
from nudge.platform.db import transaction
from nudge.platform.owners import create_owner
from nudge.reporting.rollups import rebuild
from nudge.tasks.schemas import TaskPatch
from nudge.tasks.service import complete_task, update_task


def _tasks(sessions: sessionmaker[Session], n: int) -> tuple[int, list[int]]:
    with transaction(sessions) as session:
        owner, _ = create_owner(session, f"rollups-tx-{uuid.uuid4().hex[:8]}")
        tasks = [
            Task(
                owner_id=owner.id,
                title=f"t{i}",
                source="test",
                idempotency_key=f"rollups-tx-{owner.id}-{i}",
                priority="high" if i % 2 else "low",
                due_at=datetime.now(UTC) + timedelta(days=1),
            )
            for i in range(n)
        ]
        session.add_all(tasks)
        session.flush()
        return owner.id, [t.id for t in tasks]


def _totals(sessions: sessionmaker[Session], owner_id: int) -> dict[tuple[str, str], int]:
    with sessions() as session:
        rows = session.execute(
            select(TOTALS.c.status, TOTALS.c.priority, TOTALS.c.tasks).where(
                TOTALS.c.owner_id == owner_id
            )
        )
        return {(s, p): n for s, p, n in rows if n}


def test_a_rolled_back_change_moves_nothing(sessions: sessionmaker[Session]) -> None:
    owner_id, (task_id,) = _tasks(sessions, 1)
    before = _totals(sessions, owner_id)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        task = session.get(Task, task_id)
        assert task is not None
        task.status, task.priority = "cancelled", "urgent"
        session.flush()  # the move is noted …
        raise RuntimeError("… and the transaction rolls back")
    assert _totals(sessions, owner_id) == before == {("open", "low"): 1}

    # One session, rolled back and used again: its next commit carries no leftover move.
    with sessions() as session:
        task = session.get(Task, task_id)
        assert task is not None
        task.priority = "urgent"
        session.flush()
        session.rollback()
        task = session.get(Task, task_id)
        assert task is not None and task.priority == "low"
        task.status = "completed"
        session.commit()
    assert _totals(sessions, owner_id) == {("completed", "low"): 1}


def test_concurrent_crosswise_changes_stay_exact(sessions: sessionmaker[Session]) -> None:
    owner_id, ids = _tasks(sessions, 40)

    def change(i: int) -> None:
        task_id = ids[i % len(ids)]
        if i % 5 == 4:
            complete_task(sessions, owner_id, task_id)
            return
        try:  # high ↔ low, crosswise between threads
            update_task(
                sessions,
                owner_id,
                task_id,
                TaskPatch(priority="low" if (i // len(ids)) % 2 == task_id % 2 else "high"),
            )
        except Exception as err:  # only "not open any more" is acceptable
            assert "only an open task can change" in str(err)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(change, range(160)))

    kept = _totals(sessions, owner_id)
    with transaction(sessions) as session:
        rebuild(session, owner_id)
    assert _totals(sessions, owner_id) == kept
    assert sum(kept.values()) == 40
