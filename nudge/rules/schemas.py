"""HTTP bodies of rules, previews, firings and CRM events."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_serializer,
    model_validator,
)
from pydantic.json_schema import JsonDict, SkipJsonSchema
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from nudge.calendar.schemas import PLACEMENT_HELP, BusinessDays
from nudge.core.models import Rule, RuleFiring
from nudge.core.priority import ByScore, PriorityOrByScore, joined
from nudge.core.types import (
    TEMPLATE_LENGTH,
    Id,
    NonEmpty,
    Number,
    Strict,
    Timestamp,
    UtcTime,
    rfc3339_in_years,
    template_field,
)
from nudge.core.vocabulary import (
    ActivityType,
    ContactStatus,
    FiringState,
    Placement,
    Priority,
    TriggerType,
)
from nudge.rules.triggers import CONFIGS, TRIGGER_TYPES, TriggerConfig, parse_config


def _same_error(error: ErrorDetails) -> InitErrorDetails:
    """A pydantic error as it came, to be raised again beside another."""
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], error["msg"], error.get("ctx")),
        loc=error["loc"],
        input=error["input"],
    )


# A key left out keeps the field; the schema leaves null out where null is refused.
Unset = SkipJsonSchema[None]
Hours = Annotated[float, Field(ge=0, le=24 * 365, allow_inf_nan=False), Number]


PRIORITY_HELP = (
    "The task's priority: one of low, medium, high, urgent, or picked by the contact's score "
    'when the task is written, e.g. {"by_score": [[80, "urgent"], [50, "high"]], "else": '
    '"low"} (the first threshold the score reaches; below all, or no score: else).'
)


def _config_by_trigger(schema: dict[str, Any]) -> None:
    """One branch per trigger_type with the trigger_config it takes: the pairing the server
    checks, in the document. Triggers whose config has a required key need trigger_config."""
    # `ActivityConfig`, or as OpenAPI may name it: `nudge__rules__triggers__ActivityConfig-Input`.
    refs = {
        ref["$ref"].rsplit("/", 1)[-1].split("-")[0].rsplit("__", 1)[-1]: ref
        for ref in schema["properties"]["trigger_config"]["anyOf"]
    }
    branches = []
    for trigger, model in CONFIGS.items():
        branch: dict[str, Any] = {
            "properties": {
                "trigger_type": {"const": trigger},
                "trigger_config": refs[model.__name__],
            }
        }
        try:
            model.model_validate({})
        except ValidationError:
            branch["required"] = ["trigger_config"]
        branches.append(branch)
    schema["oneOf"] = branches


class RuleIn(Strict):
    """A rule as the user writes it (POST and PUT). Templates are Jinja2 over the variables
    the trigger offers; a `time` rule's `cron` must fire on some date and its `at` lie ahead:
    checks the schema can't state, answered 422 naming the fix."""

    model_config = ConfigDict(json_schema_extra=_config_by_trigger)

    name: NonEmpty
    trigger_type: TriggerType
    trigger_config: TriggerConfig = Field(  # type: ignore[assignment]  # {} is parsed below
        default_factory=dict,
        description="What fires the rule; its schema is picked by trigger_type: activity → "
        "ActivityConfig, status_change → StatusChangeConfig, cadence → CadenceConfig, time → "
        'TimeConfig, overdue → OverdueConfig. E.g. {"activity_types": ["email_opened"]} or '
        '{"from_status": "lead", "to_status": "active"} ("*" matches any). Left out, it is {} '
        "(what that means depends on the trigger).",
    )
    task_title_template: Annotated[str, template_field("task_title_template")] = Field(
        description="Jinja2, e.g. `Follow up with {{contact_name}}`."
    )
    task_description_template: Annotated[str, template_field("task_description_template")] = ""
    task_priority: PriorityOrByScore = Field("medium", description=PRIORITY_HELP)
    delay_hours: Hours = 0
    delay_business_days: BusinessDays | None = Field(
        None,
        description="Instead of delay_hours (which it replaces when set): due this many of your "
        "business days after the event, at the event's local time of day, then placed.",
    )
    placement: Placement = Field("anytime", description=PLACEMENT_HELP)
    reminder_offset_hours: Hours | None = None
    is_active: StrictBool = True

    @model_validator(mode="wrap")
    @classmethod
    def _config_fits_trigger(
        cls, data: Any, handler: ModelWrapValidatorHandler["RuleIn"], info: ValidationInfo
    ) -> Any:
        """trigger_config is read as the model that its sibling trigger_type names. Its problem
        is reported for the whole body (field "body", as ever), after the other fields'."""
        if not isinstance(data, dict):
            return handler(data)
        data = dict(data)
        config = data.pop("trigger_config", {})
        problem: ValueError | None = None
        if data.get("trigger_type") in TRIGGER_TYPES:  # else only trigger_type is wrong
            try:
                data["trigger_config"] = parse_config(data["trigger_type"], config, info.context)
            except ValueError as err:
                problem = err
        try:
            rule = handler(data)
        except ValidationError as err:
            if problem is None:
                raise
            both = [_same_error(e) for e in err.errors()]
            both.append(
                InitErrorDetails(type="value_error", loc=(), input=config, ctx={"error": problem})
            )
            raise ValidationError.from_exception_data(err.title, both) from None
        if problem is not None:
            raise problem
        return rule

    @field_serializer("trigger_config")
    def _stored(self, config: TriggerConfig) -> dict[str, Any]:
        return config.stored()

    def stored_config(self) -> dict[str, Any]:
        """trigger_config as the rule's row keeps it (a JSON object)."""
        return self.trigger_config.stored()


class RulePatch(Strict):
    """PATCH: any subset of the rule's fields, merged into the stored rule and checked as a
    whole as PUT checks it. A new `trigger_type` needs a `trigger_config` that fits it unless
    the stored one does; only `reminder_offset_hours` and `delay_business_days` may be null."""

    name: NonEmpty | Unset = None
    trigger_type: TriggerType | Unset = None
    trigger_config: dict[str, Any] | Unset = None
    # Checked once merged, as PUT checks them; the document states the limit it can.
    task_title_template: str | Unset = Field(None, json_schema_extra=TEMPLATE_LENGTH)
    task_description_template: str | Unset = Field(None, json_schema_extra=TEMPLATE_LENGTH)
    task_priority: PriorityOrByScore | Unset = Field(None, description=PRIORITY_HELP)
    delay_hours: Hours | Unset = None
    delay_business_days: BusinessDays | None = None
    placement: Placement | Unset = None
    reminder_offset_hours: Hours | None = None
    is_active: StrictBool | Unset = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    trigger_type: str
    trigger_config: dict[str, Any]
    task_title_template: str
    task_description_template: str
    task_priority: Priority | ByScore = Field(
        description="The plain priority, or the object when the rule's priority is by score."
    )
    delay_hours: float
    delay_business_days: int | None
    # A Rule not yet flushed has no column default yet: it is anytime.
    placement: Annotated[Placement, BeforeValidator(lambda value: value or "anytime")]
    reminder_offset_hours: float | None
    is_active: bool
    times_triggered: int
    tasks_created: int
    created_at: Timestamp
    updated_at: Timestamp

    @model_validator(mode="before")
    @classmethod
    def _by_score(cls, data: Any) -> Any:
        """A rule's row keeps a by-score priority in two columns: the pairs, and its `else`
        as task_priority."""
        if isinstance(data, Rule) and data.priority_by_score:
            values = {name: getattr(data, name) for name in cls.model_fields}
            values["task_priority"] = joined(data.task_priority, data.priority_by_score)
            return values
        return data


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
    placement: Placement = "anytime"
    placement_reason: str | None = Field(
        None, description="Why the due time moved from where the delay ends; null if it didn't."
    )
    due_local: str | None = Field(None, description="The due time in your calendar's zone.")
    due_contact_local: str | None = Field(None, description="In the contact's zone, if known.")
    next_runs: list[Timestamp] | None = Field(
        None,
        description="The next five runs of a `time` rule in its time zone, as UTC ISO times "
        "(one, or none once passed, for an `at`); null for other triggers.",
    )


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


# Five years either side of now, checked against the clock; the document names the whole years
# inside that window as of when it was built.
_NOW_YEAR = datetime.now(UTC).year
_ONE_CONTACT: JsonDict = {
    "oneOf": [
        {
            "required": ["contact_id"],
            "properties": {
                "contact_id": {"type": "integer"},
                "contact_external_id": {"type": "null"},
            },
        },
        {
            "required": ["contact_external_id"],
            "properties": {
                "contact_id": {"type": "null"},
                "contact_external_id": {"type": "string"},
            },
        },
    ]
}


class _EventBase(Strict):
    """Name the contact by exactly one of `contact_id` and `contact_external_id` (the other
    left out or null)."""

    model_config = ConfigDict(json_schema_extra=_ONE_CONTACT)

    event_id: NonEmpty = Field(description="Your CRM's id for the event; a redelivery is a no-op.")
    contact_id: Id | None = None
    contact_external_id: NonEmpty | None = None
    occurred_at: UtcTime | None = Field(
        None,
        description="Defaults to when Nudge received it; within five years of now.",
        json_schema_extra={"pattern": rfc3339_in_years(_NOW_YEAR - 4, _NOW_YEAR + 4)},
    )

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
    sequences_signalled: list[str] = Field(
        description="Workflow ids of the contact's running sequences, campaign enrollments and "
        "check-ins this event was sent to: those it can end (a reply, a booking, or a status "
        "that ends them). Enrollments in a custom definition get every event: their exit "
        "conditions decide."
    )
