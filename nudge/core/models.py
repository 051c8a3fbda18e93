"""Database models. Every row that belongs to somebody carries ``owner_id``.

Every table in one module (about 400 lines): Alembic compares migrations against one
metadata, and a reader sees every table's keys and indexes side by side."""

from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nudge.core.vocabulary import (
    BatchKind,
    BatchStatus,
    Cadence,
    ContactStatus,
    EnrollJobStatus,
    EnrollOutcome,
    EventKind,
    FiringState,
    Placement,
    Priority,
    ReminderStatus,
    StepRunState,
    TaskStatus,
    TriggerType,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {datetime: UTCDateTime}


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the API key; keys are 256-bit random, so a plain hash is enough.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(16))
    # Reminders are POSTed here, signed with the secret (X-Nudge-Signature).
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    # Bulk enrollment starts at most this many sequences a day (UTC); the rest wait.
    daily_enrollment_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("owner_id", "external_id", name="uq_contacts_owner_external"),
        Index("ix_contacts_owner_cadence", "owner_id", "cadence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[ContactStatus] = mapped_column(String(40), default="lead")
    cadence: Mapped[Cadence | None] = mapped_column(String(20))
    # Where its check-ins land (calendar-aware timing); None: anytime.
    cadence_placement: Mapped[Placement | None] = mapped_column(String(20))
    # IANA; None: unknown, and the owner's calendar zone stands in for contact_hours.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # 0-100 from the CRM (a lead score): priorities `by_score` read it.
    score: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskBatch(Base):
    """A group of tasks one start plans (a sequence run, an enrollment, a bulk run)."""

    __tablename__ = "task_batches"
    # Listing filters (kind, status) and the running counts on the stats page.
    __table_args__ = (Index("ix_task_batches_owner_kind_status", "owner_id", "kind", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    kind: Mapped[BatchKind] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[BatchStatus] = mapped_column(String(20), default="running")
    stop_reason: Mapped[str | None] = mapped_column(String(500))
    planned: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # Listing by due time; rule_id and created_at ride along for the overdue stats.
        Index("ix_tasks_owner_status_due", "owner_id", "status", "due_at", "rule_id", "created_at"),
        Index("ix_tasks_owner_contact_due", "owner_id", "contact_id", "due_at"),
        Index("ix_tasks_batch_status", "batch_id", "status"),
        # Stats: each aggregate reads one of these alone (index-only scans).
        Index("ix_tasks_owner_status_priority", "owner_id", "status", "priority"),
        Index("ix_tasks_owner_created", "owner_id", "created_at", "status", "priority"),
        # Per rule; ordered by hours_to_complete within (rule, status) so a median is a seek.
        Index(
            "ix_tasks_owner_rule_stats",
            "owner_id",
            "rule_id",
            "status",
            "hours_to_complete",
            "created_at",
            "due_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # active_history: a change knows the value it replaces, which the stats roll-ups move
    # their count from (nudge/core/rollups.py), even when the row was not loaded before.
    priority: Mapped[Priority] = mapped_column(String(10), default="medium", active_history=True)
    status: Mapped[TaskStatus] = mapped_column(String(12), default="open", active_history=True)
    due_at: Mapped[datetime] = mapped_column(active_history=True)
    reminder_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # completed_at - created_at, kept when completing: the median reads it from an index.
    hours_to_complete: Mapped[float | None] = mapped_column(Float, active_history=True)
    source: Mapped[str] = mapped_column(String(40))
    # What a custom sequence step asks for: call, email, linkedin or todo (else none).
    kind: Mapped[str | None] = mapped_column(String(12))
    # The rule that made it; cleared when the rule is deleted (`source` still names it).
    rule_id: Mapped[int | None] = mapped_column(Integer, active_history=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("task_batches.id", ondelete="SET NULL"))
    # Derived from the workflow and step that made the task: a retried write finds it.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    # none / scheduled / delivered / skipped / failed, with the webhook outcome if any.
    reminder_status: Mapped[ReminderStatus] = mapped_column(String(12), default="none")
    reminder_detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rule(Base):
    """A TaskAutomationRule: when its trigger matches, a task after `delay_hours`."""

    __tablename__ = "automation_rules"
    __table_args__ = (Index("ix_rules_owner_trigger", "owner_id", "trigger_type", "is_active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    trigger_type: Mapped[TriggerType] = mapped_column(String(20))
    trigger_config: Mapped[dict] = mapped_column(JSON, default=dict)
    task_title_template: Mapped[str] = mapped_column(Text)
    task_description_template: Mapped[str] = mapped_column(Text, default="")
    task_priority: Mapped[Priority] = mapped_column(String(10), default="medium")
    # [[80, "urgent"], [50, "high"], …]: the contact's score picks the priority (the first
    # threshold it reaches); below all of them, or without a score, task_priority.
    priority_by_score: Mapped[list | None] = mapped_column(JSON)
    delay_hours: Mapped[float] = mapped_column(Float, default=0)
    # Instead of delay_hours: this many of the owner's business days after the event.
    delay_business_days: Mapped[int | None] = mapped_column(Integer)
    placement: Mapped[Placement] = mapped_column(String(20), default="anytime")
    reminder_offset_hours: Mapped[float | None] = mapped_column(Float)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Changed only in the transaction that adds the firing / the task they count.
    times_triggered: Mapped[int] = mapped_column(Integer, default=0)
    tasks_created: Mapped[int] = mapped_column(Integer, default=0)
    # Moves with times_triggered.
    last_fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CrmEvent(Base):
    """Something that happened to a contact, stored once per the CRM's event id."""

    __tablename__ = "crm_events"
    __table_args__ = (UniqueConstraint("owner_id", "event_id", name="uq_events_owner_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[EventKind] = mapped_column(String(20))
    activity_type: Mapped[str | None] = mapped_column(String(40))
    old_status: Mapped[ContactStatus | None] = mapped_column(String(40))
    new_status: Mapped[ContactStatus | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    # Set once its firings are started and its sequences told; until then a redelivery
    # (or the next PATCH of the contact) finishes the job.
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleFiring(Base):
    """One rule matched by one event: scheduled, then created / skipped / cancelled."""

    __tablename__ = "rule_firings"
    __table_args__ = (
        UniqueConstraint("rule_id", "event_row_id", name="uq_firings_rule_event"),
        Index("ix_firings_rule_created", "rule_id", "id"),
        Index("ix_firings_owner_state", "owner_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="SET NULL")
    )
    event_row_id: Mapped[int] = mapped_column(ForeignKey("crm_events.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    workflow_id: Mapped[str] = mapped_column(String(200))
    # Fixed when the event arrives: editing the rule later doesn't move them.
    create_at: Mapped[datetime]
    due_at: Mapped[datetime]
    reminder_at: Mapped[datetime | None]
    state: Mapped[FiringState] = mapped_column(String(12), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(500))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    """A delivered reminder: at most one per task (the unique key makes it exactly once)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="reminder")
    title: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    placement: Mapped[Placement] = mapped_column(String(20), default="anytime")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutomationStep(Base):
    __tablename__ = "automation_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "order", name="uq_steps_campaign_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    order: Mapped[int] = mapped_column(Integer)
    message_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    delay_days: Mapped[float] = mapped_column(Float, default=0)


class Enrollment(Base):
    """One contact walking one campaign's steps (one per pair)."""

    __tablename__ = "campaign_enrollments"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id", name="uq_enrollment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("task_batches.id", ondelete="CASCADE"))
    workflow_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StepRun(Base):
    """What happened at one step of one enrollment: a task, or a skip with the reason."""

    __tablename__ = "campaign_step_runs"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_id", name="uq_step_run"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_enrollments.id", ondelete="CASCADE")
    )
    step_id: Mapped[int] = mapped_column(ForeignKey("automation_steps.id", ondelete="CASCADE"))
    state: Mapped[StepRunState] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(500))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A signed-in browser of the web page. Its cookie holds a random id; only the id's
    SHA-256 is stored, and signing out deletes the row, so a copied cookie stops working."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class SequenceDefinition(Base):
    """A sequence a user built (or one of the built-in presets, owner_id NULL). Its steps
    live in immutable versions; `version` names the one new enrollments run."""

    __tablename__ = "sequence_definitions"
    # Ids name workflows (sequence-…-def-{id}): SQLite must never hand a deleted one out again.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("owners.id", ondelete="CASCADE"), index=True
    )
    # standard / aggressive / gentle for the built-ins: they run the preset workflow.
    preset: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    exit_activity_types: Mapped[list] = mapped_column(JSON, default=list)
    exit_statuses: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SequenceVersion(Base):
    """The steps of one version of a definition, never changed once written."""

    __tablename__ = "sequence_versions"
    __table_args__ = (UniqueConstraint("definition_id", "version", name="uq_sequence_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("sequence_definitions.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollJob(Base):
    """One bulk enrollment request, worked through by its Temporal workflow."""

    __tablename__ = "enroll_jobs"
    __table_args__ = (
        Index("ix_enroll_jobs_owner_request", "owner_id", "definition_id", "request_key"),
        {"sqlite_autoincrement": True},  # ids name workflows (enroll-job-{id})
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("sequence_definitions.id", ondelete="CASCADE")
    )
    workflow_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[EnrollJobStatus] = mapped_column(String(12), default="running")
    # What was asked: {"contact_ids": [...]} or {"filter": {...}}, and the start delay; the
    # key is its hash, so the same request again finds whom it enrolled before.
    request: Mapped[dict] = mapped_column(JSON, default=dict)
    request_key: Mapped[str] = mapped_column(String(64), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class EnrollJobItem(Base):
    """One contact of a bulk enrollment and what became of it (written once per contact,
    so a retried page never enrolls or counts anyone twice)."""

    __tablename__ = "enroll_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "contact_id", name="uq_enroll_item"),
        Index("ix_enroll_items_job_ordinal", "job_id", "ordinal"),
        Index("ix_enroll_items_owner_day", "owner_id", "day", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("enroll_jobs.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[EnrollOutcome] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500))
    batch_id: Mapped[int | None] = mapped_column(Integer)
    # The day (UTC, as the job's workflow saw it) it was enrolled: the daily limit counts these.
    day: Mapped[str | None] = mapped_column(String(10))


class Calendar(Base):
    """An owner's working calendar: every placed due time reads it, the ICS feed lists the
    owner's open tasks under its secret token. No row: the default calendar (UTC, Mon-Fri
    09:00-17:00); the row is made on first read or write."""

    __tablename__ = "calendars"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], …}: a day left out or empty is closed.
    working_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    holiday_country: Mapped[str | None] = mapped_column(String(3))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10))
    closed_dates: Mapped[list] = mapped_column(JSON, default=list)
    # The capability in the feed URL (GET /api/calendar/{token}.ics); rotating replaces it.
    feed_token: Mapped[str] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Integration(Base):
    """A CRM connection: its webhooks come in at /api/inbound/{provider}/{id}/, verified by
    the provider's own signature with `secret`, and map to contacts, statuses and activities."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(500))
    status_property: Mapped[str] = mapped_column(String(100), default="lifecyclestage")
    status_mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    activity_mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    score_property: Mapped[str | None] = mapped_column(String(100))
    received: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    last_received_at: Mapped[datetime | None]
    last_refusal: Mapped[str | None] = mapped_column(String(500))
    last_refused_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundEvent(Base):
    """One provider event, stored before it is applied: its key (the provider's event id, or
    what stands in for one) makes a redelivery or a replay find it."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("integration_id", "dedupe_key", name="uq_inbound_integration_key"),
        Index("ix_inbound_status", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # pending → processed (or ignored: nothing of Nudge's maps to it, or failed: why in detail)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    detail: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class WebhookSubscription(Base):
    """Where an owner's task events go, signed the Standard Webhooks way with `secret`."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """A task change, written in the same transaction as the change (the transactional
    outbox): nothing committed is lost, nothing rolled back is sent. Ids order a task's
    events."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_owner_id", "owner_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    # {"type", "timestamp", "data": the task as GET /api/tasks/{id}/ shows it}
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One outbox event for one subscription: its attempts, and where it stands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_delivery_subscription_event"),
        Index("ix_delivery_subscription_task", "subscription_id", "task_id", "status", "event_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    # pending → delivered, or retrying → delivered / dead (replay: pending again)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Stats roll-ups: counters kept in the same transaction as every task insert and status,
# priority or due change (nudge/core/rollups.py), so a stats figure is a sum over a few
# hundred counters, not over the owner's tasks. `nudge stats rebuild` recomputes them.
# rule_id 0 stands for "no rule" (a task made by hand, or whose rule was deleted): a
# primary key column can't be NULL.
# SQLite keeps each in its primary key's order (no rowid): a sum over a key range reads the
# counters themselves, not an index and then the rows.
ROLLUP_TABLE: dict = {"sqlite_with_rowid": False}


class _Counters:
    """A roll-up table: keyed by owner first (its primary key's leading column), gone with
    the owner."""

    __table_args__: dict | tuple = ROLLUP_TABLE
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )


class TaskDayCount(_Counters, Base):
    """Tasks created on a UTC day, by rule, status and priority (windowed stats)."""

    __tablename__ = "task_day_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[TaskStatus] = mapped_column(String(12), primary_key=True)
    priority: Mapped[Priority] = mapped_column(String(10), primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)
    # Completed with a completion time: how many values a rule's median ranks.
    timed: Mapped[int] = mapped_column(Integer, default=0)


class TaskTotalCount(_Counters, Base):
    """All-time tasks by rule, status and priority: the day counters summed, kept apart so
    all-time stats read a few hundred rows however many days there are."""

    __tablename__ = "task_total_counts"

    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[TaskStatus] = mapped_column(String(12), primary_key=True)
    priority: Mapped[Priority] = mapped_column(String(10), primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)


class TaskCreatedCount(_Counters, Base):
    """Tasks created per UTC day (the chart)."""

    __tablename__ = "task_created_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)


class OpenDueCount(_Counters, Base):
    """Open tasks by the UTC day they are due and rule. Overdue is a rule's open tasks minus
    those due from today on (one key range: the days ahead, however many lie behind), plus
    today's index range up to now."""

    __tablename__ = "open_due_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)


class OpenDueHourCount(_Counters, Base):
    """Open tasks by the UTC hour they are due (hours since the epoch) and rule: today's
    overdue is its past hours' counters plus the current hour's index range up to now, so
    it costs the same however many tasks fall due a day."""

    __tablename__ = "open_due_hours"
    # PostgreSQL: the count rides in the key's index, so summing today's hours (a few
    # thousand counters, written over weeks onto scattered pages) reads the index alone.
    __table_args__ = (
        PrimaryKeyConstraint("owner_id", "hour", "rule_id", postgresql_include=["tasks"]),
        ROLLUP_TABLE,
    )

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)


class RuleMedian(_Counters, Base):
    """A rule's all-time median hours to complete, for the number of completed tasks it was
    computed over. A rule's completed tasks only ever grow (a completed task never changes
    again; a deleted rule's row goes with it), so an equal count means the same tasks and
    the same median: exact, and recomputed (one index seek) only after a completion."""

    __tablename__ = "rule_medians"

    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    completed: Mapped[int] = mapped_column(Integer)
    median: Mapped[float] = mapped_column(Float)


# Last, once Task is complete: every flush of a task moves its roll-up counters.
from nudge.core import rollups as _rollups  # noqa: E402

_rollups.listen()
