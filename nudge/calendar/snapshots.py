"""Freezing an owner's calendar into the snapshot a workflow places its due times by:
windows, zone and every closed date of the years ahead, public holidays resolved now."""

import functools
from datetime import date, datetime
from typing import Final

from sqlalchemy.orm import Session

from nudge.calendar.closures import snapshot as resolve_snapshot
from nudge.calendar.timing import DEFAULT_CALENDAR, CalendarSnapshot
from nudge.core.models import Calendar

# Public holidays resolved into a snapshot: the year it is taken and the next two, which
# covers a 260-business-day wait. Later years have weekends and closed dates, not holidays,
# until a new snapshot (a new start, or a calendar change applied to running workflows).
SNAPSHOT_YEARS: Final = 3


@functools.lru_cache(maxsize=256)
def _frozen(
    timezone: str,
    hours: tuple[tuple[str, tuple[tuple[str, str], ...]], ...],
    region: tuple[str, str | None] | None,
    closed: tuple[str, ...],
    first_year: int,
) -> CalendarSnapshot:
    return resolve_snapshot(
        timezone,
        {day: list(windows) for day, windows in hours},
        region,
        [date.fromisoformat(d) for d in closed],
        years=range(first_year, first_year + SNAPSHOT_YEARS),
    )


def snapshot_of(row: Calendar | None, at: datetime) -> CalendarSnapshot:
    """The calendar as a workflow keeps it: windows, zone, and every closed date (public
    holidays resolved now) of the years ahead, so a holidays upgrade moves nothing it runs."""
    if row is None:
        return _frozen(
            DEFAULT_CALENDAR.timezone,
            tuple((day, tuple(windows)) for day, windows in DEFAULT_CALENDAR.working_hours.items()),
            None,
            (),
            at.year,
        )
    region = (row.holiday_country, row.holiday_subdivision) if row.holiday_country else None
    return _frozen(
        row.timezone,
        tuple(
            (day, tuple((w[0], w[1]) for w in windows))
            for day, windows in sorted(row.working_hours.items())
        ),
        region,
        tuple(row.closed_dates),
        at.year,
    )


def calendar_snapshot(session: Session, owner_id: int, at: datetime) -> CalendarSnapshot:
    return snapshot_of(session.get(Calendar, owner_id), at)
