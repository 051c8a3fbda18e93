"""HTTP bodies of sequences and batches."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from nudge.core.types import (
    Id,
    Number,
    Strict,
    Timestamp,
    no_nul,
)
from nudge.core.vocabulary import (
    SequenceState,
    SequenceType,
    StepKind,
    StepState,
)

Hours = Annotated[float, Field(ge=0, le=24 * 365, allow_inf_nan=False), Number]


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError("not_null", "can't be null; leave the field out instead")
    return value


# An optional key that may not be null: `Annotated[X | None, NOT_NULL] = Field(None,
# json_schema_extra=null_refused)`. Left out it is None; a null sent is refused, named by its
# field; the document states X alone. (`X | SkipJsonSchema[None]` took null silently, and as a
# union named its branches in an error's field: `steps.function-after[...].0.wait`.)
NOT_NULL = BeforeValidator(_not_null)


def null_refused(schema: JsonDict) -> None:
    """The field's schema without the null NOT_NULL refuses."""
    choices = schema.pop("anyOf")
    assert isinstance(choices, list)
    (kept,) = [c for c in choices if c != {"type": "null"}]
    assert isinstance(kept, dict)
    schema.update(kept)


class ScheduleSequenceIn(Strict):
    """A preset by `sequence_type`, or a definition by `definition_id`: not both."""

    model_config = ConfigDict(
        json_schema_extra={"not": {"required": ["sequence_type", "definition_id"]}}
    )

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
    definition_id: Annotated[Id | None, NOT_NULL] = Field(
        None,
        description="A sequence definition (yours, or a built-in) instead of sequence_type "
        "(not with it); see GET /api/task-automation/sequences/definitions/.",
        json_schema_extra=null_refused,
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
    placement_reason: str | None = Field(
        None, description="Why its placed due time moved from where its wait ends."
    )


class MigrationOut(BaseModel):
    from_version: int
    to_version: int
    at: Timestamp
    skipped: list[str]
    added: list[str]
    changed: list[str]


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=500), AfterValidator(no_nul)] | None = None
