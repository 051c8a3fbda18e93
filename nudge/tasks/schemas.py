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
from pydantic.json_schema import JsonDict

from nudge.core.types import (
    VISIBLE_TEXT,
    Id,
    Number,
    Strict,
    Timestamp,
    UtcTime,
    no_nul,
    rfc3339_in_years,
)
from nudge.core.vocabulary import (
    Priority,
)
from nudge.sequences.schemas import NOT_NULL, null_refused


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
    kind: str | None = Field(
        None, description="What a custom sequence step asks for: call, email, linkedin, todo."
    )
    workflow_id: str | None
    batch_id: int | None
    created_at: Timestamp


# A hundred years either side of now, checked against the clock; the document names the whole
# years inside that window as of when it was built.
_NOW_YEAR = datetime.now(UTC).year


class TaskIn(Strict):
    contact_id: Id | None = None
    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(no_nul),
        Field(json_schema_extra={"pattern": VISIBLE_TEXT}),
    ]
    description: Annotated[str, StringConstraints(max_length=5000), AfterValidator(no_nul)] = ""
    priority: Priority = "medium"
    due_at: UtcTime = Field(
        description="ISO 8601 with an offset; within a hundred years of now.",
        json_schema_extra={"pattern": rfc3339_in_years(_NOW_YEAR - 99, _NOW_YEAR + 99)},
    )
    # Bounds inside, before Number: on the union pydantic would document them as `ge`/`le`.
    reminder_offset_hours: (
        Annotated[float, Field(ge=0, le=24 * 365, allow_inf_nan=False), Number] | None
    ) = None

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
        description="Tasks done (completed or cancelled) out of the planned ones, 0 to 100. "
        "A batch that ended early keeps the share it reached (0 of 4 done reads 0, not 100): "
        "`status` and `stop_reason` say how it ended. A batch that plans no task reads 100 "
        "once it has ended."
    )
    created_at: Timestamp
    finished_at: Timestamp | None


def _not_null_time(schema: JsonDict) -> None:
    null_refused(schema)
    schema["pattern"] = rfc3339_in_years(_NOW_YEAR - 99, _NOW_YEAR + 99)


class TaskPatch(Strict):
    """A new due time and/or priority for an open task; a field left out keeps its value."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # Left out: kept. Null is refused (named by its field), as JSON Schema says.
    due_at: Annotated[UtcTime | None, NOT_NULL] = Field(
        None,
        description="ISO 8601 with an offset, within a hundred years of now; a scheduled "
        "reminder moves with it.",
        json_schema_extra=_not_null_time,
    )
    priority: Annotated[Priority | None, NOT_NULL] = Field(None, json_schema_extra=null_refused)

    @model_validator(mode="after")
    def _something(self) -> "TaskPatch":
        if self.due_at is None and self.priority is None:
            raise ValueError("give due_at, priority or both (neither may be null)")
        if self.due_at is not None and abs(self.due_at - datetime.now(UTC)) > timedelta(
            days=100 * 366
        ):
            raise ValueError("due_at must be within a hundred years of now")
        return self
