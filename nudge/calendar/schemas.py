"""HTTP bodies of an owner's working calendar, and the placement fields rules, steps,
cadences and campaigns share."""

from datetime import date
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from nudge.calendar.closures import check_region
from nudge.calendar.timing import validate_windows
from nudge.core.types import Integer, Strict, Timestamp, TimeZoneName, date_in_years
from nudge.core.vocabulary import ApplyToRunning, Placement, Weekday

# "HH:MM" on a 24-hour clock; "24:00" ends a window at midnight.
CLOCK = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Clock = Annotated[str, StringConstraints(pattern=CLOCK)]
Window = tuple[Clock, Clock]
FIRST_YEAR, LAST_YEAR = 1970, 9000
DATE_IN_YEARS = date_in_years(FIRST_YEAR, LAST_YEAR)
MAX_CLOSED_DATES = 1000
MAX_BUSINESS_DAYS = 260


def _in_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{value} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return value


ClosedDate = Annotated[
    date,
    AfterValidator(_in_years),
    Field(json_schema_extra={"pattern": DATE_IN_YEARS}),
]
# Bounds before Integer: after a BeforeValidator pydantic documents them as `ge`/`le`.
BusinessDays = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_BUSINESS_DAYS,
        description=f"Business days of the owner's calendar (0-{MAX_BUSINESS_DAYS}): days with "
        "working hours that are neither holidays nor closed dates.",
    ),
    Integer,
]
PLACEMENT_HELP = (
    "Where the due time may land once the wait is counted: `anytime` (where the wait ends), "
    "`working_hours` (rolled forward to the next open slot of your calendar), `contact_hours` "
    "(the same hours, read in the contact's time zone) or `best_time` (the contact's busiest "
    "engagement hour of the week in the last 90 days, at least 5 events; else contact_hours)."
)


class HolidaysIn(Strict):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")] = Field(
        description="The ISO 3166-1 code (alpha-2, or alpha-3 where the holidays package knows "
        "it) whose public holidays close the calendar, e.g. DE or US; checked against the "
        "countries the holidays package lists."
    )
    subdivision: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")] | None = Field(
        None, description="A state or region of that country, e.g. BY (Bavaria) or CA."
    )

    @model_validator(mode="after")
    def _known(self) -> "HolidaysIn":
        check_region(self.country, self.subdivision)
        return self


class CalendarIn(Strict):
    """The working calendar every placed due time reads. A weekday left out or given [] is
    closed; windows of a day may not overlap or be inverted; at least one day needs hours."""

    timezone: TimeZoneName
    working_hours: dict[Weekday, list[Window]] = Field(
        description='Per weekday, open windows as ["HH:MM", "HH:MM"] pairs in `timezone`, '
        'e.g. {"mon": [["09:00", "12:00"], ["13:00", "17:30"]]}.',
        json_schema_extra={"minProperties": 1},
    )
    holidays: HolidaysIn | None = Field(None, description="Close on these public holidays.")
    closed_dates: list[ClosedDate] = Field(
        default_factory=list,
        max_length=MAX_CLOSED_DATES,
        description="Extra closed days (YYYY-MM-DD, local), e.g. company holidays.",
    )
    apply_to_running: ApplyToRunning = Field(
        "none",
        description="none: running sequences, cadences and campaigns keep the calendar they "
        "started with; future_steps: they place their next due times by this one.",
    )

    @field_validator("working_hours")
    @classmethod
    def _windows(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        validate_windows(value)
        return {day: sorted(windows) for day, windows in value.items()}


class HolidaysOut(BaseModel):
    country: str
    subdivision: str | None


class CalendarOut(BaseModel):
    timezone: str
    working_hours: dict[Weekday, list[tuple[str, str]]]
    holidays: HolidaysOut | None
    closed_dates: list[date]
    feed_url: str = Field(
        description="Your open tasks as an ICS feed (subscribe in any calendar app). Secret: "
        "whoever has it reads your tasks; rotate it with POST /api/account/calendar/feed/rotate/."
    )
    updated_at: Timestamp | None


class CalendarChangeOut(CalendarOut):
    apply_to_running: ApplyToRunning
    migrated: int = Field(description="Running workflows told to use the new calendar.")


class PlacedOut(BaseModel):
    """A placed due time, in UTC and in the owner's and the contact's zones, and why it moved."""

    due_at: Timestamp
    due_local: str = Field(description="In the owner's calendar zone, e.g. 'Mon 28 Dec 09:00'.")
    due_contact_local: str | None = Field(description="In the contact's zone, when it has one.")
    placement: Placement
    placement_reason: str | None = Field(description="Why it moved; null when it did not.")


# A rule's or a campaign's: left out keeps the stored one (PATCH), else anytime.
Unset = SkipJsonSchema[None]
