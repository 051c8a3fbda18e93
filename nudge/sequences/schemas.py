"""HTTP bodies of sequences and batches."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
)

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
)


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


class PlannedStepOut(BaseModel):
    step: int
    due_at: Timestamp


class ScheduledSequenceOut(BaseModel):
    workflow_id: str
    batch_id: int
    planned: list[PlannedStepOut]
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
    temporal_ui_url: str


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=500), AfterValidator(no_nul)] | None = None
