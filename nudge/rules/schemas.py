"""HTTP bodies of rules, previews, firings and CRM events."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from nudge.core.models import RuleFiring
from nudge.core.types import (
    Id,
    NonEmpty,
    Strict,
    Timestamp,
    UtcTime,
    template_field,
)
from nudge.core.vocabulary import (
    ActivityType,
    ContactStatus,
    FiringState,
    Priority,
    TriggerType,
)
from nudge.rules.triggers import check_config


class RuleIn(Strict):
    """A rule as the user writes it (POST and PUT)."""

    name: NonEmpty
    trigger_type: TriggerType
    trigger_config: dict[str, Any] = Field(
        default_factory=dict,
        description='activity: {"activity_types": ["email_opened", …]}; status_change: '
        '{"from_status": "lead", "to_status": "active"} ("*" matches any).',
    )
    task_title_template: Annotated[str, template_field("task_title_template")] = Field(
        description="Jinja2, e.g. `Follow up with {{contact_name}}`."
    )
    task_description_template: Annotated[str, template_field("task_description_template")] = ""
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
    state: FiringState
    reason: str | None
    task_id: int | None
    create_at: Timestamp
    due_at: Timestamp
    created_at: Timestamp

    @classmethod
    def of(cls, firing: RuleFiring, event_id: str) -> "FiringOut":
        """A firing row with its CRM event id (the row holds only the event's row id)."""
        return cls(
            id=firing.id,
            rule_id=firing.rule_id,
            event_id=event_id,
            contact_id=firing.contact_id,
            workflow_id=firing.workflow_id,
            state=firing.state,
            reason=firing.reason,
            task_id=firing.task_id,
            create_at=firing.create_at,
            due_at=firing.due_at,
            created_at=firing.created_at,
        )


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
    activity_type: ActivityType


class StatusChangeIn(_EventBase):
    new_status: ContactStatus
    old_status: ContactStatus | None = Field(
        None, description="Defaults to the contact's current status."
    )


class EventOut(BaseModel):
    event_id: str
    contact_id: int | None
    kind: str
    duplicate: bool = Field(description="True when this event_id had been received before.")
    firings: list[FiringOut]
    sequences_signalled: list[str]
