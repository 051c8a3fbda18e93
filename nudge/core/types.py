"""Field types every HTTP body shares: ids, times, bounded text, strict bodies, pages."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue, JsonValue
from pydantic_core import CoreSchema, PydanticCustomError

from nudge.core.templating import MAX_TEMPLATE, VARIABLES, TemplateProblem
from nudge.core.templating import validate as validate_template

T = TypeVar("T")


# Always "+00:00", never "Z": the API promises ISO 8601 with an explicit offset.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]


# The IANA names the tz database lists: not `localtime` (the host's own zone, which may
# differ between machines), `posix/…` aliases, or a path of any length.
_ZONES: Final = frozenset(available_timezones()) - {"localtime"}


def known_timezone(name: str) -> str:
    if name not in _ZONES:
        raise ValueError(
            f"unknown time zone {name[:64]!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"time zone {name!r} can't be read on this machine") from None
    return name


# The names the document lists; the server takes any name ZoneInfo reads.
TIME_ZONES: list[JsonValue] = [*sorted(_ZONES)]
TimeZoneName = Annotated[
    str,
    AfterValidator(known_timezone),
    Field(json_schema_extra={"enum": TIME_ZONES}, description="An IANA time zone name."),
]


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


def _json_only(kind: str, type_: str) -> BeforeValidator:
    """A JSON number only: pydantic alone reads true as 1 and "5" as 5, which the documented
    schema (integer, number) refuses."""

    def check(value: object) -> object:
        if isinstance(value, bool | str):
            raise PydanticCustomError(
                type_, f'Input should be a valid {kind}, e.g. 3 (not true or "3")'
            )
        return value

    return BeforeValidator(check)


# On every number of a body, before its bounds.
Number = _json_only("number", "float_type")
Integer = _json_only("integer", "int_type")

# Database keys are 32-bit on PostgreSQL: anything larger can't name a row. Bounds go before
# Integer: after a BeforeValidator pydantic documents them as `ge`/`le`, not JSON Schema.
Id = Annotated[int, Field(ge=1, le=2**31 - 1), Integer]


def iso_time(value: object) -> object:
    """ISO 8601 text (or a datetime): pydantic alone reads 0.5 and "0.5" as seconds since 1970,
    which the documented schema (a date-time string) refuses."""
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 time, e.g. 2026-01-31T09:00:00+00:00")


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UtcTime = Annotated[datetime, BeforeValidator(iso_time), AfterValidator(as_utc)]


def _digits(low: str, high: str) -> str:
    """A regex for the numbers low..high written with the same number of digits."""
    if low == high:
        return low
    rest = len(low) - 1
    if not rest:
        return f"[{low}-{high}]"
    if low[0] == high[0]:
        return low[0] + _digits(low[1:], high[1:])
    parts, first, last = [], int(low[0]), int(high[0])
    if low[1:] != "0" * rest:
        parts.append(low[0] + _digits(low[1:], "9" * rest))
        first += 1
    if high[1:] != "9" * rest:
        parts.append(high[0] + _digits("0" * rest, high[1:]))
        last -= 1
    if first <= last:
        lead = str(first) if first == last else f"[{first}-{last}]"
        parts.insert(len(parts) - (high[1:] != "9" * rest), f"{lead}[0-9]{{{rest}}}")
    return "(?:" + "|".join(parts) + ")" if len(parts) > 1 else parts[0]


def date_in_years(first: int, last: int) -> str:
    """The JSON Schema `pattern` of a YYYY-MM-DD date in years first..last."""
    return (
        f"^{_digits(f'{first:04d}', f'{last:04d}')}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
    )


def rfc3339_in_years(first: int, last: int) -> str:
    """The JSON Schema `pattern` of an RFC 3339 time (with its offset) in years first..last:
    the documented part of a time window the server checks against now."""
    return (
        f"^{_digits(f'{first:04d}', f'{last:04d}')}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
        "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,6})?"
        "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
    )


# Whitespace spelled out as Unicode's White_Space, what pydantic's strip_whitespace removes:
# `\s` means a different set in each regex engine (JSON Schema's ECMA, pydantic's Rust,
# Python's re), so a pattern using it documents one thing and checks another.
SPACE = r"\t-\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Text with something besides that whitespace, and no NUL.
VISIBLE_TEXT = rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"

NonEmpty = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_nul),
    Field(json_schema_extra={"pattern": VISIBLE_TEXT}),
]


EMAIL = rf"^[^@{SPACE}\x00]+@[^@{SPACE}\x00]+\.[^@{SPACE}\x00]+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=EMAIL),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


# The one template limit JSON Schema can state (depth and filters only the check knows).
TEMPLATE_LENGTH: dict[str, JsonValue] = {"maxLength": MAX_TEMPLATE}


@dataclass(frozen=True, slots=True)
class _TemplateCheck(AfterValidator):
    """The template check, stating TEMPLATE_LENGTH in the document."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(schema) | TEMPLATE_LENGTH


def template_field(field: str, variables: tuple[str, ...] = VARIABLES) -> AfterValidator:
    def check(value: str) -> str:
        try:
            validate_template(value, field, variables)
        except TemplateProblem as err:
            raise ValueError(str(err)) from None
        return value

    return _TemplateCheck(check)
