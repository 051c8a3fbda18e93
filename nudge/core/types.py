"""Field types every HTTP body shares: ids, times, bounded text, strict bodies, pages."""

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from nudge.core.templating import TemplateProblem
from nudge.core.templating import validate as validate_template

T = TypeVar("T")


# Always "+00:00", never "Z": the API promises ISO 8601 with an explicit offset.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]


def known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return name


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a time without an offset is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range once converted to UTC") from None


# Database keys are 32-bit on PostgreSQL: anything larger can't name a row.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


UtcTime = Annotated[datetime, AfterValidator(as_utc)]


NonEmpty = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_nul),
]


Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


def template_field(field: str) -> AfterValidator:
    def check(value: str) -> str:
        try:
            validate_template(value, field)
        except TemplateProblem as err:
            raise ValueError(str(err)) from None
        return value

    return AfterValidator(check)
