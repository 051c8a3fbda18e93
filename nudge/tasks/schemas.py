"""HTTP bodies of the tasks API."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from nudge.core.types import (
    Id,
    Strict,
    Timestamp,
    UtcTime,
    no_nul,
)
from nudge.core.vocabulary import (
    Priority,
)


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


class TaskIn(Strict):
    contact_id: Id | None = None
    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(no_nul),
    ]
    description: Annotated[str, StringConstraints(max_length=5000), AfterValidator(no_nul)] = ""
    priority: Priority = "medium"
    due_at: UtcTime
    reminder_offset_hours: float | None = Field(None, ge=0, le=24 * 365, allow_inf_nan=False)

    @model_validator(mode="after")
    def _sane_due(self) -> "TaskIn":
        if abs(self.due_at - datetime.now(UTC)) > timedelta(days=100 * 366):
            raise ValueError("due_at must be within a hundred years of now")
        return self


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
