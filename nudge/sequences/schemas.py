"""HTTP bodies of sequences and batches."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

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
    template_field,
)
from nudge.core.vocabulary import (
    ActivityType,
    ApplyToRunning,
    Cadence,
    ContactStatus,
    EnrollJobStatus,
    OnMaxWait,
    Priority,
    SequenceState,
    SequenceType,
    StepAnchor,
    StepKind,
    StepState,
)

# A key left out keeps its default; the schema leaves null out where null is refused.
Unset = SkipJsonSchema[None]
Hours = Annotated[float, Field(ge=0, le=24 * 365, allow_inf_nan=False), Number]


class ScheduleSequenceIn(Strict):
    contact_id: Id = Field(description="Id of one of your contacts.")
    sequence_type: SequenceType = Field(
        "standard",
        description="standard: days 1, 3, 7, 14; aggressive: 1, 2, 4, 7; gentle: 3, 7, 14, 30.",
    )
    start_delay_hours: Annotated[float, Number] = Field(
        0,
        ge=0,
        le=24 * 365,
        allow_inf_nan=False,
        description="Hours to wait before the day count starts.",
    )
    definition_id: Id | Unset = Field(
        None,
        description="A sequence definition (yours, or a built-in) instead of sequence_type; "
        "see GET /api/task-automation/sequences/definitions/.",
    )

    @model_validator(mode="after")
    def _one_sequence(self) -> "ScheduleSequenceIn":
        if self.definition_id is not None and "sequence_type" in self.model_fields_set:
            raise ValueError("give sequence_type or definition_id, not both")
        return self


class PlannedStepOut(BaseModel):
    step: int
    due_at: Timestamp


class ScheduledSequenceOut(BaseModel):
    workflow_id: str
    batch_id: int
    planned: list[PlannedStepOut] = Field(
        description="Steps whose due time is known now (a step that waits for a completion "
        "is not among them)."
    )
    definition_id: int | None = None
    version: int | None = Field(None, description="The definition version it runs.")
    already_running: bool = Field(description="True when this answered a repeated start.")
    temporal_ui_url: str


class UnreadSignalOut(BaseModel):
    name: str
    reason: str = Field(description="What was wrong with its input, and what it should be.")
    received_at: Timestamp


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
    unread_signals: list[UnreadSignalOut] = Field(
        description="Signals sent to the workflow by hand (Temporal CLI or UI) that it could "
        "not read and so ignored, newest last (the last 10)."
    )
    definition_id: int | None = Field(None, description="A custom sequence's definition.")
    version: int | None = Field(None, description="The definition version it runs.")
    steps: list["StepProgressOut"] = Field(
        default_factory=list,
        description="A custom sequence's steps: kind, state, due time, the task made.",
    )
    migrations: list["MigrationOut"] = Field(
        default_factory=list, description="Live edits it adopted, oldest first."
    )
    temporal_ui_url: str


class StepProgressOut(BaseModel):
    number: int = Field(description="Its place in the version it runs (0: a removed step).")
    id: str
    kind: StepKind
    state: StepState
    due_at: Timestamp | None
    task_id: int | None
    reason: str | None


class MigrationOut(BaseModel):
    from_version: int
    to_version: int
    at: Timestamp
    skipped: list[str]
    added: list[str]
    changed: list[str]


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=500), AfterValidator(no_nul)] | None = None


# --- custom sequence definitions ------------------------------------------------------------

MAX_STEPS = 50
MAX_WAIT_DAYS = 365
STEP_ID = r"^[A-Za-z0-9_-]{1,40}$"


class Wait(Strict):
    """How long: exactly one of `days` or `hours` (fractions allowed)."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["days"]}, {"required": ["hours"]}]}
    )

    days: Annotated[float, Number] | Unset = Field(
        None, ge=0, le=MAX_WAIT_DAYS, allow_inf_nan=False
    )
    hours: Annotated[float, Number] | Unset = Field(
        None, ge=0, le=MAX_WAIT_DAYS * 24, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _one_unit(self) -> "Wait":
        if (self.days is None) == (self.hours is None):
            raise ValueError('give exactly one of "days" or "hours", e.g. {"days": 2}')
        return self

    def in_hours(self) -> float:
        return self.hours if self.hours is not None else (self.days or 0) * 24


class StepIn(Strict):
    id: Annotated[str, StringConstraints(pattern=STEP_ID)] | Unset = Field(
        None,
        description="Stable across versions (a live edit matches steps by it); made up when "
        "left out. Letters, digits, - and _.",
    )
    kind: StepKind = Field("todo", description="What the task asks for; shown on the task.")
    wait: Wait = Field(description='How long after the anchor, e.g. {"days": 2} or {"hours": 4}.')
    anchor: StepAnchor = Field(
        "previous_due",
        description="enrollment: from the start; previous_due: from the previous step's due "
        "time; previous_completed: from when the previous step's task is completed.",
    )
    max_wait: Wait | Unset = Field(
        None,
        description="previous_completed only: after this long without the completion "
        "(counted from the previous task's creation), on_max_wait happens.",
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
    priority: Priority = "medium"
    reminder_offset_hours: Hours | None = Field(
        None, description="Remind this many hours before the step's due time."
    )

    @model_validator(mode="after")
    def _max_wait_needs_completion(self) -> "StepIn":
        if self.max_wait is not None and self.anchor != "previous_completed":
            raise ValueError(
                "max_wait applies only to a step with anchor previous_completed; remove it "
                f"or set that anchor (this step's anchor is {self.anchor})"
            )
        return self


class ExitOn(Strict):
    """What ends an enrollment early, with the reason recorded."""

    activity_types: list[ActivityType] = Field(
        default_factory=lambda: ["email_replied", "meeting_booked"], max_length=20
    )
    statuses: list[ContactStatus] = Field(default_factory=lambda: ["active", "lost"], max_length=10)


Steps = Annotated[list[StepIn], Field(min_length=1, max_length=MAX_STEPS)]


def check_steps(steps: list[StepIn]) -> list[StepIn]:
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


CheckedSteps = Annotated[Steps, AfterValidator(check_steps)]


class DefinitionIn(Strict):
    name: NonEmpty
    description: Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] = ""
    steps: CheckedSteps = Field(description=f"1 to {MAX_STEPS} steps, in order.")
    exit_on: ExitOn = Field(default_factory=ExitOn)


APPLY_DOC = (
    "none: running enrollments finish on the version they run; future_steps: each adopts "
    "the new steps it has not created yet (matched by step id)."
)


class DefinitionPut(DefinitionIn):
    apply_to_running: ApplyToRunning = Field("none", description=APPLY_DOC)


class DefinitionPatch(Strict):
    name: NonEmpty | Unset = None
    description: (
        Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] | Unset
    ) = None
    steps: CheckedSteps | Unset = None
    exit_on: ExitOn | Unset = None
    apply_to_running: ApplyToRunning = Field("none", description=APPLY_DOC)


class StepStored(BaseModel):
    """A step as stored and answered: every field, its id made up if it had none."""

    id: str
    kind: StepKind
    wait: dict[str, float]
    anchor: StepAnchor
    max_wait: dict[str, float] | None
    on_max_wait: OnMaxWait
    title_template: str
    description_template: str
    priority: Priority
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


class DefinitionPreviewIn(Strict):
    contact_id: Id
    start_at: UtcTime | None = Field(
        None, description="When the enrollment would start (default: now)."
    )


class DraftDefinitionPreviewIn(DefinitionPreviewIn):
    definition: DefinitionIn


class StepPreviewOut(BaseModel):
    number: int
    id: str
    kind: StepKind
    title: str
    description: str
    priority: str
    due_at: Timestamp | None = Field(
        description="Null when it waits for the previous task's completion."
    )
    reminder_at: Timestamp | None
    note: str | None = Field(description="Why there is no due time yet, or what it waits for.")


class DefinitionPreviewOut(BaseModel):
    definition_id: int | None
    version: int | None
    steps: list[StepPreviewOut]


class ContactFilter(Strict):
    status: ContactStatus | Unset = None
    cadence: Cadence | Unset = None


class EnrollIn(Strict):
    """Exactly one of contact_ids or filter."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["contact_ids"]}, {"required": ["filter"]}]}
    )

    contact_ids: Annotated[list[Id], Field(min_length=1, max_length=10_000)] | Unset = None
    filter: ContactFilter | Unset = Field(
        None, description="Every contact of yours with this status and/or cadence ({} is all)."
    )
    start_delay_hours: Hours = 0

    @model_validator(mode="after")
    def _one_source(self) -> "EnrollIn":
        if (self.contact_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of contact_ids or filter")
        if self.contact_ids is not None and len(set(self.contact_ids)) != len(self.contact_ids):
            raise ValueError("contact_ids has a contact twice; list each once")
        return self


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
    daily_enrollment_limit: Annotated[int, Integer, Field(ge=1, le=1_000_000)] | None = Field(
        description="At most this many enrollments a day (UTC) from bulk jobs; null: no limit."
    )
