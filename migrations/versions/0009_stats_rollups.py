"""Stats roll-ups: task counters by day, rule, status and priority; all-time totals; tasks
created per day; open tasks by due day; per-rule medians. Filled from the tasks table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner() -> sa.Column:
    return sa.Column(
        "owner_id",
        sa.Integer(),
        sa.ForeignKey("owners.id", ondelete="CASCADE"),
        primary_key=True,
        nullable=False,
    )


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, type_, primary_key=True, nullable=False)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


# SQLite keeps each in its primary key's order (no rowid): a key range reads the counters.
NO_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    op.create_table(
        "task_day_counts",
        _owner(),
        _key("day", sa.Date()),
        _key("rule_id", sa.Integer()),
        _key("status", sa.String(length=12)),
        _key("priority", sa.String(length=10)),
        _count("tasks"),
        _count("timed"),
        **NO_ROWID,
    )
    op.create_table(
        "task_total_counts",
        _owner(),
        _key("rule_id", sa.Integer()),
        _key("status", sa.String(length=12)),
        _key("priority", sa.String(length=10)),
        _count("tasks"),
        _count("timed"),
        **NO_ROWID,
    )
    op.create_table(
        "task_created_counts", _owner(), _key("day", sa.Date()), _count("tasks"), **NO_ROWID
    )
    op.create_table(
        "open_due_counts",
        _owner(),
        _key("rule_id", sa.Integer()),
        _key("day", sa.Date()),
        _count("tasks"),
        **NO_ROWID,
    )
    op.create_table(
        "rule_medians",
        _owner(),
        _key("rule_id", sa.Integer()),
        _count("completed"),
        sa.Column("median", sa.Float(), nullable=False),
        **NO_ROWID,
    )
    _fill()


def _fill() -> None:
    """The counters of the tasks already there (the same statements as `nudge stats
    rebuild`, written out here: a migration never imports the live code)."""
    pg = op.get_bind().dialect.name == "postgresql"
    day = "CAST(timezone('UTC', {c}) AS DATE)" if pg else "substr({c}, 1, 10)"
    created, due = day.format(c="created_at"), day.format(c="due_at")
    timed = (
        "SUM(CASE WHEN status = 'completed' AND hours_to_complete IS NOT NULL THEN 1 ELSE 0 END)"
    )
    rule = "COALESCE(rule_id, 0)"
    op.execute(
        f"INSERT INTO task_day_counts (owner_id, day, rule_id, status, priority, tasks, timed) "
        f"SELECT owner_id, {created}, {rule}, status, priority, COUNT(*), {timed} FROM tasks "
        f"GROUP BY owner_id, {created}, {rule}, status, priority"
    )
    op.execute(
        "INSERT INTO task_total_counts (owner_id, rule_id, status, priority, tasks, timed) "
        "SELECT owner_id, rule_id, status, priority, SUM(tasks), SUM(timed) "
        "FROM task_day_counts GROUP BY owner_id, rule_id, status, priority"
    )
    op.execute(
        "INSERT INTO task_created_counts (owner_id, day, tasks) "
        "SELECT owner_id, day, SUM(tasks) FROM task_day_counts GROUP BY owner_id, day"
    )
    op.execute(
        f"INSERT INTO open_due_counts (owner_id, rule_id, day, tasks) "
        f"SELECT owner_id, {rule}, {due}, COUNT(*) FROM tasks WHERE status = 'open' "
        f"GROUP BY owner_id, {rule}, {due}"
    )


def downgrade() -> None:
    for table in (
        "rule_medians",
        "open_due_counts",
        "task_created_counts",
        "task_total_counts",
        "task_day_counts",
    ):
        op.drop_table(table)
