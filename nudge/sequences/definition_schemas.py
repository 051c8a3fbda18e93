"""HTTP bodies of custom sequence definitions: their steps, versions and live edits, the
previews, bulk enrollment and its jobs, and the daily enrollment limit.

Some 400 lines, most of them field descriptions and the document rules the contract test
holds the server to: the bodies of one resource, side by side, share those rules."""

from datetime import datetime
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonDict

from nudge.calendar.schemas import MAX_BUSINESS_DAYS, PLACEMENT_HELP
from nudge.core.priority import ByScore, PriorityOrByScore
from nudge.core.templating import SEQUENCE_VARIABLES
from nudge.core.types import (
    Id,
    Integer,
    NonEmpty,
    Number,
    Strict,
    Timestamp,
    UtcTime,
    no_nul,
    rfc3339_in_years,
    template_field,
)
from nudge.core.vocabulary import (
    ActivityType,
    ApplyToRunning,
    Cadence,
    ContactStatus,
    EnrollJobStatus,
    OnMaxWait,
    Placement,
    Priority,
    StepAnchor,
    StepKind,
)
from nudge.sequences.schemas import NOT_NULL, Hours, null_refused

MAX_STEPS = 50
MAX_WAIT_DAYS = 365
STEP_ID = r"^[A-Za-z0-9_-]{1,40}$"


class Wait(Strict):
    """How long: exactly one of `days` or `hours` (fractions allowed)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["days"]}, {"required": ["hours"]}]}
    )

    # Bounds before Number: after a BeforeValidator pydantic documents them as `ge`/`le`.
    days: Annotated[
        Annotated[float, Field(ge=0, le=MAX_WAIT_DAYS, allow_inf_nan=False), Number] | None,
        NOT_NULL,
    ] = Field(None, json_schema_extra=null_refused)
    hours: Annotated[
        Annotated[float, Field(ge=0, le=MAX_WAIT_DAYS * 24, allow_inf_nan=False), Number] | None,
        NOT_NULL,
    ] = Field(None, json_schema_extra=null_refused)

    @model_validator(mode="after")
    def _one_unit(self) -> "Wait":
        if (self.days is None) == (self.hours is None):
            raise ValueError('give exactly one of "days" or "hours", e.g. {"days": 2}')
        return self

    def in_hours(self) -> float:
        return self.hours if self.hours is not None else (self.days or 0) * 24


class StepWait(Wait):
    """How long: exactly one of `days`, `hours` (fractions allowed) or `business_days` (whole
    days of the owner's calendar: open weekdays that are no holiday or closed date)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["days"]},
                {"required": ["hours"]},
                {"required": ["business_days"]},
            ]
        }
    )

    business_days: Annotated[
        Annotated[int, Field(ge=0, le=MAX_BUSINESS_DAYS), Integer] | None, NOT_NULL
    ] = Field(None, json_schema_extra=null_refused)

    @model_validator(mode="after")
    def _one_unit(self) -> "StepWait":
        given = [u for u in ("days", "hours", "business_days") if getattr(self, u) is not None]
        if len(given) != 1:
            raise ValueError(
                'give exactly one of "days", "hours" or "business_days", e.g. {"days": 2}'
            )
        return self


# A step with max_wait waits for a completion: JSON Schema states the rule (the generator of
# the contract test reads it), DefinitionStepIn's check says it in words.
MAX_WAIT_RULE: JsonDict = {
    "if": {"required": ["max_wait"], "properties": {"max_wait": {"type": "object"}}},
    "then": {"required": ["anchor"], "properties": {"anchor": {"const": "previous_completed"}}},
}


class DefinitionStepIn(Strict):
    """One step. `max_wait` only with anchor previous_completed."""

    model_config = ConfigDict(json_schema_extra=MAX_WAIT_RULE)

    id: Annotated[Annotated[str, StringConstraints(pattern=STEP_ID)] | None, NOT_NULL] = Field(
        None,
        description="Stable across versions (a live edit matches steps by it); made up when "
        "left out. Letters, digits, - and _; each step of a definition has its own.",
        json_schema_extra=null_refused,
    )
    kind: StepKind = Field("todo", description="What the task asks for; shown on the task.")
    wait: StepWait = Field(
        description='How long after the anchor, e.g. {"days": 2}, {"hours": 4} or '
        '{"business_days": 3}.'
    )
    placement: Placement = Field("anytime", description=PLACEMENT_HELP)
    anchor: StepAnchor = Field(
        "previous_due",
        description="enrollment: from the start; previous_due: from the previous step's due "
        "time; previous_completed: from when the previous step's task is completed (not on "
        "the first step).",
    )
    max_wait: Wait | None = Field(
        None,
        description="previous_completed only: after this long without the completion "
        "(counted from the previous task's creation), on_max_wait happens. Null: no limit.",
    )
    on_max_wait: OnMaxWait = Field(
        "create", description="create: create the step anyway; end: end the enrollment."
    )
    title_template: Annotated[str, template_field("title_template", SEQUENCE_VARIABLES)] = Field(
        description="Jinja2 over contact_name, contact_email, due_date, step_number, "
        "step_count, sequence_name; e.g. `Call {{contact_name}} ({{step_number}}/{{step_count}})`."
    )
    description_template: Annotated[
        str, template_field("description_template", SEQUENCE_VARIABLES)
    ] = ""
    priority: PriorityOrByScore = Field(
        "medium",
        description="One of low, medium, high, urgent, or picked by the contact's score when "
        'the task is written, e.g. {"by_score": [[80, "urgent"], [50, "high"]], "else": "low"} '
        "(the first threshold the score reaches; below all, or no score: else).",
    )
    reminder_offset_hours: Hours | None = Field(
        None, description="Remind this many hours before the step's due time."
    )

    @model_validator(mode="after")
    def _max_wait_needs_completion(self) -> "DefinitionStepIn":
        if self.max_wait is not None and self.anchor != "previous_completed":
            raise ValueError(
                "max_wait applies only to a step with anchor previous_completed; remove it "
                f"or set that anchor (this step's anchor is {self.anchor})"
            )
        return self


StepIn = DefinitionStepIn  # its first name (the document's StepIn is a campaign's)


EXIT_ACTIVITY_TYPES: Final[tuple[ActivityType, ...]] = ("email_replied", "meeting_booked")
EXIT_STATUSES: Final[tuple[ContactStatus, ...]] = ("active", "lost")


class ExitOn(Strict):
    """What ends an enrollment early, with the reason recorded."""

    activity_types: list[ActivityType] = Field(
        default_factory=lambda: list(EXIT_ACTIVITY_TYPES), max_length=20
    )
    statuses: list[ContactStatus] = Field(
        default_factory=lambda: list(EXIT_STATUSES), max_length=10
    )


def check_steps(steps: list[DefinitionStepIn]) -> list[DefinitionStepIn]:
    """Checks across steps: ids unique, and the first step has no previous one to wait for."""
    seen: set[str] = set()
    for step in steps:
        if step.id is not None:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice; each step needs its own")
            seen.add(step.id)
    if steps and steps[0].anchor == "previous_completed":
        raise ValueError(
            "the first step has no previous step to wait for; give it anchor enrollment or "
            "previous_due"
        )
    return steps


def _first_step(schema: JsonDict) -> None:
    """The first step's anchor, stated (prefixItems) next to what every step is (items);
    unique ids are not JSON Schema's to say."""
    items = schema["items"]
    assert isinstance(items, dict)
    waits_for_completion: JsonDict = {
        "required": ["anchor"],
        "properties": {"anchor": {"const": "previous_completed"}},
    }
    schema["prefixItems"] = [{**items, "not": waits_for_completion}]


CheckedSteps = Annotated[
    list[DefinitionStepIn],
    Field(min_length=1, max_length=MAX_STEPS, json_schema_extra=_first_step),
    AfterValidator(check_steps),
]
STEPS_DOC = (
    f"1 to {MAX_STEPS} steps, in order; each step's id (when given) its own, and the first "
    "step's anchor not previous_completed."
)


class DefinitionIn(Strict):
    name: NonEmpty
    description: Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] = ""
    steps: CheckedSteps = Field(description=STEPS_DOC)
    exit_on: ExitOn = Field(default_factory=ExitOn)


APPLY_DOC = (
    "none: running enrollments finish on the version they run; future_steps: each adopts "
    "the new steps it has not created yet (matched by step id)."
)


class DefinitionPut(DefinitionIn):
    apply_to_running: ApplyToRunning = Field("none", description=APPLY_DOC)


class DefinitionPatch(Strict):
    """Only the fields given change; none may be null (leave a field out to keep it)."""

    name: Annotated[NonEmpty | None, NOT_NULL] = Field(None, json_schema_extra=null_refused)
    description: Annotated[
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] | None,
        NOT_NULL,
    ] = Field(None, json_schema_extra=null_refused)
    steps: Annotated[CheckedSteps | None, NOT_NULL] = Field(
        None, description=STEPS_DOC, json_schema_extra=null_refused
    )
    exit_on: Annotated[ExitOn | None, NOT_NULL] = Field(None, json_schema_extra=null_refused)
    apply_to_running: ApplyToRunning = Field("none", description=APPLY_DOC)


class StepStored(BaseModel):
    """A step as stored and answered: every field, its id made up if it had none."""

    id: str
    kind: StepKind
    wait: dict[str, int | float]
    placement: Placement = "anytime"
    anchor: StepAnchor
    max_wait: dict[str, float] | None
    on_max_wait: OnMaxWait
    title_template: str
    description_template: str
    priority: Priority | ByScore
    reminder_offset_hours: float | None


class ExitOnOut(BaseModel):
    activity_types: list[str]
    statuses: list[str]


class DefinitionOut(BaseModel):
    id: int
    name: str
    description: str
    builtin: bool = Field(description="The presets: read-only, for every owner.")
    version: int = Field(description="The version new enrollments run.")
    steps: list[StepStored]
    exit_on: ExitOnOut
    running_enrollments: int
    created_at: Timestamp
    updated_at: Timestamp


class DefinitionChangeOut(DefinitionOut):
    apply_to_running: ApplyToRunning
    migrated: int = Field(
        description="Running enrollments told to adopt the new version (future_steps)."
    )


def _in_span(value: datetime) -> datetime:
    """Fifty steps of a year each, and a reminder a year before, fit in a datetime."""
    if not PREVIEW_YEARS[0] <= value.year <= PREVIEW_YEARS[1]:
        raise ValueError(
            f"must be between the years {PREVIEW_YEARS[0]} and {PREVIEW_YEARS[1]} (UTC)"
        )
    return value


PREVIEW_YEARS: Final = (2, 9900)
# The pattern is a year inside the span either side, so an offset can't carry it outside.
PreviewTime = Annotated[
    UtcTime,
    AfterValidator(_in_span),
    Field(json_schema_extra={"pattern": rfc3339_in_years(3, 9899)}),
]


class DefinitionPreviewIn(Strict):
    contact_id: Id
    start_at: PreviewTime | None = Field(
        None,
        description="When the enrollment would start (default: now); ISO 8601 between the "
        "years 3 and 9899, without an offset read as UTC.",
    )


class DraftDefinitionPreviewIn(DefinitionPreviewIn):
    definition: DefinitionIn


class StepPreviewOut(BaseModel):
    number: int
    id: str
    kind: StepKind
    title: str
    description: str
    priority: str = Field(description="Resolved for the contact (by its score, if by score).")
    due_at: Timestamp | None = Field(
        description="Null when it waits for the previous task's completion."
    )
    reminder_at: Timestamp | None
    note: str | None = Field(description="Why there is no due time yet, or what it waits for.")
    placement: Placement = "anytime"
    placement_reason: str | None = Field(
        None, description="Why the due time moved from where the wait ends (placement)."
    )
    due_local: str | None = Field(None, description="The due time in your calendar's zone.")
    due_contact_local: str | None = Field(None, description="In the contact's zone, if known.")


class DefinitionPreviewOut(BaseModel):
    definition_id: int | None
    version: int | None
    steps: list[StepPreviewOut]


class EnrollFilter(Strict):
    """Contacts matching every key given ({} is all)."""

    status: Annotated[ContactStatus | None, NOT_NULL] = Field(None, json_schema_extra=null_refused)
    cadence: Annotated[Cadence | None, NOT_NULL] = Field(None, json_schema_extra=null_refused)


ContactFilter = EnrollFilter  # its first name (the document's is a rule's)


def _each_once(contact_ids: list[int]) -> list[int]:
    seen: set[int] = set()
    for contact_id in contact_ids:
        if contact_id in seen:
            raise ValueError(f"contact {contact_id} is listed twice; list each contact once")
        seen.add(contact_id)
    return contact_ids


ContactIds = Annotated[
    list[Id],
    Field(min_length=1, max_length=10_000, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_each_once),
]


class BulkEnrollIn(Strict):
    """Exactly one of contact_ids or filter."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["contact_ids"]}, {"required": ["filter"]}]}
    )

    contact_ids: Annotated[ContactIds | None, NOT_NULL] = Field(
        None,
        description="Up to 10,000 of your contacts, each once.",
        json_schema_extra=null_refused,
    )
    filter: Annotated[EnrollFilter | None, NOT_NULL] = Field(
        None,
        description="Every contact of yours with this status and/or cadence ({} is all).",
        json_schema_extra=null_refused,
    )
    start_delay_hours: Hours = 0

    @model_validator(mode="after")
    def _one_source(self) -> "BulkEnrollIn":
        if (self.contact_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of contact_ids or filter")
        return self


EnrollIn = BulkEnrollIn  # its first name (the document's EnrollIn is a campaign's)


class EnrollItemOut(BaseModel):
    contact_id: int
    reason: str | None


class EnrollJobOut(BaseModel):
    job_id: int
    definition_id: int
    status: EnrollJobStatus
    total: int
    enrolled: int
    already_enrolled: int
    skipped: int
    failed: int
    pending: int
    detail: str | None = Field(
        description="What the job is doing, e.g. waiting for the daily limit."
    )
    skipped_contacts: list[EnrollItemOut] = Field(description="The first 100, with why.")
    failed_contacts: list[EnrollItemOut] = Field(description="The first 100, with why.")
    created_at: Timestamp
    finished_at: Timestamp | None
    temporal_ui_url: str


class EnrollmentLimitIn(Strict):
    # Bounds before Integer: after a BeforeValidator pydantic documents them as `ge`/`le`.
    daily_enrollment_limit: Annotated[int, Field(ge=1, le=1_000_000), Integer] | None = Field(
        description="At most this many enrollments a day (UTC) from bulk jobs; null: no limit."
    )
