"""stats: indexes the aggregates read, the rule behind each task, a rule's last firing

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("automation_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_owner_cadence", ["owner_id", "cadence"], unique=False)
    with op.batch_alter_table("task_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_task_batches_owner_status")
        batch_op.create_index(
            "ix_task_batches_owner_kind_status", ["owner_id", "kind", "status"], unique=False
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hours_to_complete", sa.Float(), nullable=True))
    # Tasks made by rules so far say so in `source` ("rule:<id>"); only digits are cast.
    postgres = op.get_bind().dialect.name == "postgresql"
    numeric = (
        "source ~ '^rule:[0-9]{1,9}$'"
        if postgres
        else "source GLOB 'rule:[0-9]*' AND substr(source, 6) NOT GLOB '*[^0-9]*'"
        " AND length(source) <= 14"
    )
    op.execute(f"UPDATE tasks SET rule_id = CAST(substr(source, 6) AS INTEGER) WHERE {numeric}")
    hours = (
        "extract(epoch from completed_at - created_at) / 3600.0"
        if postgres
        else "(julianday(completed_at) - julianday(created_at)) * 24.0"
    )
    op.execute(
        f"UPDATE tasks SET hours_to_complete = {hours} "
        "WHERE status = 'completed' AND completed_at IS NOT NULL"
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_owner_status_due")
        batch_op.create_index(
            "ix_tasks_owner_status_due",
            ["owner_id", "status", "due_at", "rule_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_tasks_owner_status_priority", ["owner_id", "status", "priority"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_owner_created", ["owner_id", "created_at", "status", "priority"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_owner_rule_stats",
            ["owner_id", "rule_id", "status", "hours_to_complete", "created_at", "due_at"],
            unique=False,
        )
    op.execute(
        "UPDATE automation_rules SET last_fired_at = coalesce("
        "(SELECT max(f.created_at) FROM rule_firings f WHERE f.rule_id = automation_rules.id), "
        "(SELECT max(t.created_at) FROM tasks t "
        " WHERE t.owner_id = automation_rules.owner_id AND t.rule_id = automation_rules.id))"
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_owner_rule_stats")
        batch_op.drop_index("ix_tasks_owner_created")
        batch_op.drop_index("ix_tasks_owner_status_priority")
        batch_op.drop_index("ix_tasks_owner_status_due")
        batch_op.create_index(
            "ix_tasks_owner_status_due", ["owner_id", "status", "due_at"], unique=False
        )
        batch_op.drop_column("hours_to_complete")
        batch_op.drop_column("rule_id")
    with op.batch_alter_table("task_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_task_batches_owner_kind_status")
        batch_op.create_index("ix_task_batches_owner_status", ["owner_id", "status"], unique=False)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_owner_cadence")
    with op.batch_alter_table("automation_rules", schema=None) as batch_op:
        batch_op.drop_column("last_fired_at")
