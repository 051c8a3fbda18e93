"""Path and query parameters with the bounds that keep bad values out of the database."""

from typing import Annotated

from fastapi import Path, Query

from nudge.core.types import UtcTime

MAX_ID = 2**31 - 1  # PostgreSQL integer keys
MAX_OFFSET = 10_000_000

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
WorkflowIdPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.:-]{1,200}$",
        description="As returned by schedule-sequence, e.g. `sequence-1-42-standard`.",
    ),
]
OptionalTime = Annotated[
    UtcTime | None, Query(description="ISO 8601; without an offset it is read as UTC.")
]
