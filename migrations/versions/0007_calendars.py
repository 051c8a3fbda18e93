"""calendar-aware timing: owners' working calendars (with the ICS feed token), placement on
rules, campaigns and cadences, business-day rule delays, and an optional contact time zone

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("working_hours", sa.JSON(), nullable=False),
        sa.Column("holiday_country", sa.String(length=3), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=10), nullable=True),
        sa.Column("closed_dates", sa.JSON(), nullable=False),
        sa.Column("feed_token", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id"),
        sa.UniqueConstraint("feed_token"),
    )
    # Existing rows keep their behaviour: placement "anytime", delays in hours.
    with op.batch_alter_table("automation_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delay_business_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("placement", sa.String(length=20), nullable=False, server_default="anytime")
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("placement", sa.String(length=20), nullable=False, server_default="anytime")
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cadence_placement", sa.String(length=20), nullable=True))
        # Unknown is now a value of its own (the owner's zone stands in for it).
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=True)
    # "UTC" was written for every contact created without a zone: they are unknown, not in
    # UTC (a contact really in UTC can be told so again).
    op.execute("UPDATE contacts SET timezone = NULL WHERE timezone = 'UTC'")


def downgrade() -> None:
    op.execute("UPDATE contacts SET timezone = 'UTC' WHERE timezone IS NULL")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("cadence_placement")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("placement")
    with op.batch_alter_table("automation_rules", schema=None) as batch_op:
        batch_op.drop_column("placement")
        batch_op.drop_column("delay_business_days")
    op.drop_table("calendars")
