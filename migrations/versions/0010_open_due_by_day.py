"""Open tasks by due day keyed (owner, day, rule): the days from today on are one key range,
so all-time overdue (open tasks minus those due from today) reads only the days ahead, not
every past day's counters.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rekey(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE open_due_counts DROP CONSTRAINT open_due_counts_pkey")
        op.create_primary_key("open_due_counts_pkey", "open_due_counts", columns)
        return
    # SQLite can't change a primary key: a copy under the new key takes the table's place.
    op.create_table(
        "open_due_counts_rekeyed",
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("owners.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*columns),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO open_due_counts_rekeyed (owner_id, day, rule_id, tasks) "
        "SELECT owner_id, day, rule_id, tasks FROM open_due_counts"
    )
    op.drop_table("open_due_counts")
    op.rename_table("open_due_counts_rekeyed", "open_due_counts")


def upgrade() -> None:
    _rekey(["owner_id", "day", "rule_id"])


def downgrade() -> None:
    _rekey(["owner_id", "rule_id", "day"])
