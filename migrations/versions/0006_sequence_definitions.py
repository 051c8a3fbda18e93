"""sequence definitions: custom sequences, their versions, bulk enrollment jobs; the three
presets as built-in (read-only) definitions, ids 1-3 on a fresh table

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sequence_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("preset", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("exit_activity_types", sa.JSON(), nullable=False),
        sa.Column("exit_statuses", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("preset"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sequence_definitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sequence_definitions_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "enroll_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["definition_id"], ["sequence_definitions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("enroll_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enroll_jobs_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "ix_enroll_jobs_owner_request",
            ["owner_id", "definition_id", "request_key"],
            unique=False,
        )

    op.create_table(
        "sequence_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["definition_id"], ["sequence_definitions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("definition_id", "version", name="uq_sequence_version"),
    )
    op.create_table(
        "enroll_job_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["enroll_jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "contact_id", name="uq_enroll_item"),
    )
    with op.batch_alter_table("enroll_job_items", schema=None) as batch_op:
        batch_op.create_index("ix_enroll_items_job_ordinal", ["job_id", "ordinal"], unique=False)
        batch_op.create_index(
            "ix_enroll_items_owner_day", ["owner_id", "day", "outcome"], unique=False
        )

    with op.batch_alter_table("owners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_enrollment_limit", sa.Integer(), nullable=True))

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=12), nullable=True))

    # The built-ins: their steps are the presets' (nudge.sequences.presets), not rows.
    definitions = sa.table(
        "sequence_definitions",
        sa.column("preset", sa.String), sa.column("name", sa.String),
        sa.column("description", sa.Text), sa.column("version", sa.Integer),
        sa.column("exit_activity_types", sa.JSON), sa.column("exit_statuses", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    now = datetime.now(UTC)
    for preset, name, days in (
        ("standard", "Standard follow-up", "1, 3, 7 and 14"),
        ("aggressive", "Aggressive follow-up", "1, 2, 4 and 7"),
        ("gentle", "Gentle follow-up", "3, 7, 14 and 30"),
    ):
        op.bulk_insert(definitions, [{
            "preset": preset, "name": name,
            "description": f"Built in: a follow-up task on days {days} after the start.",
            "version": 1, "exit_activity_types": ["email_replied", "meeting_booked"],
            "exit_statuses": ["active", "lost"], "created_at": now, "updated_at": now,
        }])  # fmt: skip


def downgrade() -> None:
    # Plain ALTERs (SQLite 3.35+): batch mode would copy and drop `owners`, and dropping it
    # with foreign keys on deletes every row that cascades from it.
    op.execute("ALTER TABLE tasks DROP COLUMN kind")
    op.execute("ALTER TABLE owners DROP COLUMN daily_enrollment_limit")

    with op.batch_alter_table("enroll_job_items", schema=None) as batch_op:
        batch_op.drop_index("ix_enroll_items_owner_day")
        batch_op.drop_index("ix_enroll_items_job_ordinal")

    op.drop_table("enroll_job_items")
    op.drop_table("sequence_versions")
    with op.batch_alter_table("enroll_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_enroll_jobs_owner_request")
        batch_op.drop_index(batch_op.f("ix_enroll_jobs_owner_id"))

    op.drop_table("enroll_jobs")
    with op.batch_alter_table("sequence_definitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sequence_definitions_owner_id"))

    op.drop_table("sequence_definitions")
