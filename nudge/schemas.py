"""Request and response bodies of the HTTP API."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from nudge.contracts import SequenceState
from nudge.schedule import SequenceType
from nudge.templating import TemplateProblem
from nudge.templating import validate as validate_template
from nudge.triggers import ACTIVITY_TYPES, TriggerType, check_config

T = TypeVar("T")

# Always "+00:00", never "Z": the API promises ISO 8601 with an explicit offset.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]

ContactStatus = Literal["lead", "prospect", "active", "inactive", "lost"]
Cadence = Literal["daily", "weekly", "biweekly", "monthly", "quarterly"]
Priority = Literal["low", "medium", "high", "urgent"]
TaskStatus = Literal["open", "completed", "cancelled"]
BatchStatus = Literal["running", "completed", "cancelled", "stopped"]


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return name


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime) -> datetime:
    """Aware UTC; a time without an offset is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range once converted to UTC") from None


# Database keys are 32-bit on PostgreSQL: anything larger can't name a row.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
UtcTime = Annotated[datetime, AfterValidator(_utc)]
NonEmpty = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(Strict):
    external_id: NonEmpty = Field(description="Your CRM's id for the contact; upserts key on it.")
    name: NonEmpty
    email: Email | None = None
    status: ContactStatus = "lead"
    cadence: Cadence | None = None
    timezone: Annotated[str, AfterValidator(_known_timezone)] = "UTC"


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    name: str
    email: str | None
    status: str
    cadence: str | None
    timezone: str
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleSequenceIn(Strict):
    contact_id: Id = Field(description="Id of one of your contacts.")
    sequence_type: SequenceType = Field(
        "standard",
        description="standard: days 1, 3, 7, 14; aggressive: 1, 2, 4, 7; gentle: 3, 7, 14, 30.",
    )
    start_delay_hours: float = Field(
        0, ge=0, le=24 * 365, description="Hours to wait before the day count starts."
    )


class PlannedStepOut(BaseModel):
    step: int
    due_at: Timestamp


class ScheduledSequenceOut(BaseModel):
    workflow_id: str
    batch_id: int
    planned: list[PlannedStepOut]
    already_running: bool = Field(description="True when this answered a repeated start.")
    temporal_ui_url: str


class SequenceProgressOut(BaseModel):
    workflow_id: str
    batch_id: int
    sequence_type: str
    state: SequenceState
    step: int = Field(description="Steps whose task has been created.")
    next_due_at: Timestamp | None
    tasks_created: int
    stop_reason: str | None
    planned: list[PlannedStepOut]
    temporal_ui_url: str


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)] | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int | None
    title: str
    description: str
    priority: str
    status: str
    due_at: Timestamp
    reminder_at: Timestamp | None
    reminder_status: str = Field(
        description="none, scheduled, delivering, delivered, skipped, failed"
    )
    reminder_detail: str | None
    completed_at: Timestamp | None
    source: str
    workflow_id: str | None
    batch_id: int | None
    created_at: Timestamp


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class BatchOut(BaseModel):
    id: int
    kind: str
    name: str
    contact_id: int | None
    workflow_id: str
    status: str
    stop_reason: str | None
    planned: int
    created: int
    completed: int
    cancelled: int
    percent: int = Field(
        description="Tasks done (completed or cancelled) out of those the batch will make: "
        "planned while it runs, created once it has ended."
    )
    created_at: Timestamp
    finished_at: Timestamp | None


class Health(BaseModel):
    database: str
    temporal: str


def _template(field: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        try:
            validate_template(value, field)
        except TemplateProblem as err:
            raise ValueError(str(err)) from None
        return value

    return AfterValidator(check)


class RuleIn(Strict):
    """A rule as the user writes it (POST and PUT)."""

    name: NonEmpty
    trigger_type: TriggerType
    trigger_config: dict[str, Any] = Field(
        default_factory=dict,
        description='activity: {"activity_types": ["email_opened", …]}; status_change: '
        '{"from_status": "lead", "to_status": "active"} ("*" matches any).',
    )
    task_title_template: Annotated[str, _template("task_title_template")] = Field(
        description="Jinja2, e.g. `Follow up with {{contact_name}}`."
    )
    task_description_template: Annotated[str, _template("task_description_template")] = ""
    task_priority: Priority = "medium"
    delay_hours: float = Field(0, ge=0, le=24 * 365, allow_inf_nan=False)
    reminder_offset_hours: float | None = Field(None, ge=0, le=24 * 365, allow_inf_nan=False)
    is_active: bool = True

    @model_validator(mode="after")
    def _config_fits_trigger(self) -> "RuleIn":
        self.trigger_config = check_config(self.trigger_type, self.trigger_config)
        return self


class RulePatch(Strict):
    """PATCH: any subset of the rule's fields."""

    name: NonEmpty | None = None
    trigger_type: TriggerType | None = None
    trigger_config: dict[str, Any] | None = None
    task_title_template: str | None = None
    task_description_template: str | None = None
    task_priority: Priority | None = None
    delay_hours: float | None = None
    reminder_offset_hours: float | None = None
    is_active: bool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    trigger_type: str
    trigger_config: dict[str, Any]
    task_title_template: str
    task_description_template: str
    task_priority: str
    delay_hours: float
    reminder_offset_hours: float | None
    is_active: bool
    times_triggered: int
    tasks_created: int
    created_at: Timestamp
    updated_at: Timestamp


class EventIn(BaseModel):
    """Event fields a preview may fill in (as an activity or a status change would)."""

    model_config = ConfigDict(extra="forbid")

    activity_type: str | None = None
    old_status: str | None = None
    new_status: str | None = None


class PreviewIn(Strict):
    contact_id: Id
    event: EventIn | None = None


class DraftPreviewIn(Strict):
    rule: RuleIn
    contact_id: Id
    event: EventIn | None = None


class PreviewOut(BaseModel):
    title: str
    description: str
    priority: str
    due_at: Timestamp
    reminder_at: Timestamp | None
    create_at: Timestamp = Field(description="When the task would be written.")


class FiringOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int | None
    event_id: str
    contact_id: int | None
    workflow_id: str
    state: str
    reason: str | None
    task_id: int | None
    create_at: Timestamp
    due_at: Timestamp
    created_at: Timestamp


class _EventBase(Strict):
    event_id: NonEmpty = Field(description="Your CRM's id for the event; a redelivery is a no-op.")
    contact_id: Id | None = None
    contact_external_id: NonEmpty | None = None
    occurred_at: UtcTime | None = Field(None, description="Defaults to when Nudge received it.")

    @model_validator(mode="after")
    def _one_contact(self) -> "_EventBase":
        if (self.contact_id is None) == (self.contact_external_id is None):
            raise ValueError("give exactly one of contact_id or contact_external_id")
        if self.occurred_at is not None:
            now = datetime.now(UTC)
            if abs(self.occurred_at - now) > timedelta(days=5 * 366):
                raise ValueError("occurred_at must be within five years of now")
        return self


class ActivityEventIn(_EventBase):
    activity_type: Literal[ACTIVITY_TYPES]  # type: ignore[valid-type]


class StatusChangeIn(_EventBase):
    new_status: ContactStatus
    old_status: ContactStatus | None = Field(
        None, description="Defaults to the contact's current status."
    )


class ContactPatch(Strict):
    name: NonEmpty | None = None
    email: Email | None = None
    status: ContactStatus | None = None
    cadence: Cadence | None = None
    timezone: Annotated[str, AfterValidator(_known_timezone)] | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> "ContactPatch":
        cleared = [f for f in ("name", "status", "timezone") if f in self.model_fields_set
                   and getattr(self, f) is None]  # fmt: skip
        if cleared:
            raise ValueError(f"{', '.join(cleared)} can't be null; leave it out to keep it")
        return self


class EventOut(BaseModel):
    event_id: str
    contact_id: int | None
    kind: str
    duplicate: bool = Field(description="True when this event_id had been received before.")
    firings: list[FiringOut]
    sequences_signalled: list[str]


class AccountOut(BaseModel):
    id: int
    name: str
    webhook_url: str | None


def _webhook_url(value: str) -> str:
    try:
        parts, url = urlsplit(value), httpx.URL(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a valid URL") from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError("use an http:// or https:// URL with a host")
    return value


class WebhookIn(Strict):
    url: (
        Annotated[
            str,
            StringConstraints(max_length=2000, pattern=r"^https?://\S+$"),
            AfterValidator(_no_nul),
            AfterValidator(_webhook_url),
        ]
        | None
    ) = Field(description="Where reminders are POSTed; null turns webhooks off.")


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(description="HMAC-SHA256 key for X-Nudge-Signature; shown once.")


class TaskTemplateIn(Strict):
    title: Annotated[str, _template("task_template.title")] = Field(
        "{{ cadence | title }} check-in with {{ contact_name }}",
        description="Jinja2; also knows {{cadence}}.",
    )
    description: Annotated[str, _template("task_template.description")] = ""
    priority: Priority = "medium"


class ScheduleRecurringIn(Strict):
    contact_id: Id
    cadence: Cadence
    task_template: TaskTemplateIn = Field(default_factory=TaskTemplateIn)


class RecurringOut(BaseModel):
    workflow_id: str
    contact_id: int
    cadence: str
    state: str
    next_due_at: Timestamp | None
    stop_reason: str | None
    temporal_ui_url: str


class TaskIn(Strict):
    contact_id: Id | None = None
    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(_no_nul),
    ]
    description: Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_nul)] = ""
    priority: Priority = "medium"
    due_at: UtcTime
    reminder_offset_hours: float | None = Field(None, ge=0, le=24 * 365, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sane_due(self) -> "TaskIn":
        if abs(self.due_at - datetime.now(UTC)) > timedelta(days=100 * 366):
            raise ValueError("due_at must be within a hundred years of now")
        return self


class StepIn(Strict):
    message_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")] = Field(
        description="task creates a task; email, sms, … are recorded as skipped here."
    )
    name: NonEmpty
    body: Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_nul)] = ""
    delay_days: float = Field(
        0, ge=0, le=365, allow_inf_nan=False, description="After the previous step."
    )
    order: int = Field(ge=1, le=1000)


class CampaignIn(Strict):
    name: NonEmpty
    steps: list[StepIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _orders_unique(self) -> "CampaignIn":
        orders = [s.order for s in self.steps]
        if len(set(orders)) != len(orders):
            raise ValueError("each step needs its own order")
        return self


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order: int
    message_type: str
    name: str
    body: str
    delay_days: float


class CampaignOut(BaseModel):
    id: int
    name: str
    steps: list[StepOut]
    created_at: Timestamp


class EnrollIn(Strict):
    contact_ids: list[Id] = Field(min_length=1, max_length=1000)


class EnrollmentOut(BaseModel):
    contact_id: int
    workflow_id: str
    batch_id: int
    created: bool = Field(description="False when the contact was already enrolled.")


class EnrollOut(BaseModel):
    enrollments: list[EnrollmentOut]


class RuleCountsOut(BaseModel):
    total: int
    active: int


class TaskCountsOut(BaseModel):
    total: int
    by_status: dict[TaskStatus, int]
    by_priority: dict[Priority, int]
    overdue: int = Field(description="Open and past their due time now.")
    completion_rate: float | None = Field(
        description="completed / (total - cancelled), 0..1; null when there is none."
    )


class DayCountOut(BaseModel):
    date: date
    created: int


class RuleStatsOut(BaseModel):
    rule_id: int
    name: str
    trigger_type: str
    is_active: bool
    times_triggered: int = Field(description="All time: events (or time-rule runs) it matched.")
    tasks_created: int = Field(description="All time.")
    tasks: int = Field(description="Its tasks created in the window.")
    completed: int
    overdue: int
    completion_rate: float | None = Field(description="completed / (tasks - cancelled).")
    overdue_rate: float | None = Field(description="overdue / tasks.")
    median_hours_to_complete: float | None = Field(
        description="Median of completed_at - created_at over its completed tasks."
    )
    last_fired_at: Timestamp | None


class RunningOut(BaseModel):
    sequences: int = Field(description="Sequence batches still running (database).")
    campaign_enrollments: int
    cadences: int = Field(description="Contacts with a recurring cadence.")
    pending_firings: int = Field(description="Rule firings waiting for their time.")


class StatsOut(BaseModel):
    generated_at: Timestamp
    since: Timestamp | None
    until: Timestamp | None
    rules: RuleCountsOut
    tasks: TaskCountsOut
    tasks_per_day: list[DayCountOut] = Field(
        description="Tasks created per UTC day, zero-filled: the 30 days up to `until` (or "
        "today), or since..until when `since` is given (its last 366 days at most)."
    )
    per_rule: list[RuleStatsOut]
    running: RunningOut
    running_workflows: dict[str, int] | None = Field(
        description="Running workflows per kind (sequence, recurring, campaign, rule) counted "
        "by Temporal visibility; null when Temporal can't answer."
    )
