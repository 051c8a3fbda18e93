"""Open tasks by due hour (hours since the epoch, UTC) and rule: all-time overdue reads
today's past hours from counters and only the current hour from the tasks table. Filled from
the open tasks already there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_due_hours",
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("owners.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        # PostgreSQL: an index-only sum of today's hours (the count in the key's index).
        sa.PrimaryKeyConstraint("owner_id", "hour", "rule_id", postgresql_include=["tasks"]),
        sqlite_with_rowid=False,
    )
    # The same statement as `nudge stats rebuild`, written out (migrations import no live code).
    if op.get_bind().dialect.name == "postgresql":
        hour = "CAST(floor(extract(epoch FROM due_at) / 3600) AS INTEGER)"
    else:  # the hour's start is whole hours from the epoch: exact before 1970 too
        hour = "CAST(strftime('%s', substr(due_at, 1, 13) || ':00:00') AS INTEGER) / 3600"
    op.execute(
        f"INSERT INTO open_due_hours (owner_id, hour, rule_id, tasks) "
        f"SELECT owner_id, {hour}, COALESCE(rule_id, 0), COUNT(*) FROM tasks "
        f"WHERE status = 'open' GROUP BY owner_id, {hour}, COALESCE(rule_id, 0)"
    )


def downgrade() -> None:
    op.drop_table("open_due_hours")
