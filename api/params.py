"""Path and query parameters with the bounds that keep bad values out of the database."""

from typing import Annotated

from fastapi import Path, Query

from nudge.core.types import UtcTime, rfc3339_in_years

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
# Years 1 and 9999 can overflow once converted to UTC; the pattern documents the safe span.
OptionalTime = Annotated[
    UtcTime | None,
    Query(
        description="ISO 8601; without an offset it is read as UTC.",
        json_schema_extra={"pattern": rfc3339_in_years(2, 9998)},
    ),
]
# The stats window: checked in UTC between the years 1970 and 9000, `since` before `until`.
WindowTime = Annotated[
    UtcTime | None,
    Query(
        description="ISO 8601, between the years 1970 and 9000 (UTC); `since` must not be after "
        "`until`.",
        json_schema_extra={"pattern": rfc3339_in_years(1971, 8999)},
    ),
]
