"""Closed days: public holidays of a country (or one of its subdivisions) from the `holidays`
package, and an owner's own closed dates, resolved into the snapshot a workflow keeps."""

import functools
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final

import holidays as pyholidays

from nudge.calendar.timing import CalendarSnapshot

CLOSED_DATE: Final = "closed date"
# How many valid subdivisions an error lists before "…".
_SHOWN: Final = 8


@functools.cache
def _supported() -> dict[str, list[str]]:
    # Country codes (alpha-2 and the alpha-3 aliases the package accepts) -> subdivisions.
    return pyholidays.list_supported_countries()


def check_region(country: str, subdivision: str | None) -> None:
    """Raise ValueError naming the fix when the package has no such country or subdivision."""
    supported = _supported()
    if country not in supported:
        raise ValueError(
            f"unknown holiday country {country!r}; "
            "use an ISO 3166-1 alpha-2 code such as 'DE' or 'US'"
        )
    if subdivision is None:
        return
    valid = supported[country]
    if not valid:
        raise ValueError(f"holiday country {country!r} has no subdivisions; leave it out")
    if subdivision not in valid:
        shown = ", ".join(repr(s) for s in valid[:_SHOWN])
        more = f", … ({len(valid)} in all)" if len(valid) > _SHOWN else ""
        raise ValueError(
            f"unknown subdivision {subdivision!r} of {country!r}; use one of {shown}{more}"
        )


def region_label(country: str, subdivision: str | None) -> str:
    return country if subdivision is None else f"{country}-{subdivision}"


def public_holidays(country: str, subdivision: str | None, years: range) -> dict[date, str]:
    """Date -> English holiday name with its region, e.g. "Christmas Day (DE)"."""
    check_region(country, subdivision)
    if not years:
        return {}
    # English: the country's own when it is its default (en_GB for GB), else the package's
    # en_US translation; a country with no translations names its holidays in English.
    entity = pyholidays.country_holidays(country)
    language = entity.default_language
    if (
        not (language is None or language.startswith("en"))
        and "en_US" in entity.supported_languages
    ):
        language = "en_US"
    found = pyholidays.country_holidays(
        country, subdiv=subdivision, years=list(years), language=language
    )
    label = region_label(country, subdivision)
    return {day: f"{name} ({label})" for day, name in sorted(found.items())}


def snapshot(
    timezone: str,
    working_hours: Mapping[str, Sequence[tuple[str, str]]],
    holidays: tuple[str, str | None] | None,
    closed_dates: Sequence[date],
    *,
    years: range,
) -> CalendarSnapshot:
    """The calendar as a workflow keeps it: the public holidays of `years` resolved now, plus
    the owner's closed dates (a date that is also a holiday keeps the holiday's name)."""
    closed = dict.fromkeys(closed_dates, CLOSED_DATE)
    label = None
    holiday_years = None
    if holidays is not None:
        country, subdivision = holidays
        closed |= public_holidays(country, subdivision, years)
        label = region_label(country, subdivision)
        if years:
            holiday_years = (min(years), max(years))
    return CalendarSnapshot(
        timezone=timezone,
        working_hours={day: list(windows) for day, windows in working_hours.items()},
        closed=dict(sorted(closed.items())),
        holiday_years=holiday_years,
        label=label,
        region=holidays,
    )


def with_years(snapshot: CalendarSnapshot, years: range) -> CalendarSnapshot:
    """The snapshot with the public holidays of `years` too: those of every year from its
    first held year (or the first of `years`) to the last of `years` not yet held are added
    to `closed`, and `holiday_years` widens to cover them. The snapshot itself when it has no
    region (no holidays, or a payload older than the field), when `years` are held already,
    or when the holidays package no longer knows the region (its dates stay as they were).
    Reads the holidays package: call it where its answer is recorded (an activity)."""
    if snapshot.region is None or not years:
        return snapshot
    first, last = years[0], years[-1]
    if years.step < 0:
        first, last = last, first
    held = snapshot.holiday_years
    if held is None:
        spans = [range(first, last + 1)]
    elif held[0] <= first and last <= held[1]:
        return snapshot
    else:
        # The years before those held and after them: held stays one unbroken run.
        spans = [range(first, held[0]), range(held[1] + 1, last + 1)]
        first, last = min(first, held[0]), max(last, held[1])
    country, subdivision = snapshot.region
    try:
        found: dict[date, str] = {}
        for span in spans:
            found |= public_holidays(country, subdivision, span)
    except ValueError:
        return snapshot
    # As in snapshot(): a holiday's name wins over an owner's closed date on the same day.
    closed = dict(sorted((snapshot.closed | found).items()))
    return snapshot.model_copy(update={"closed": closed, "holiday_years": (first, last)})
