"""An owner's working calendar: read, save, rotate its feed token."""

import secrets
from datetime import date
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nudge.calendar.schemas import CalendarIn, CalendarOut, HolidaysOut
from nudge.calendar.timing import DEFAULT_CALENDAR
from nudge.core.models import Calendar, utcnow

FEED_PATH: Final = "/api/calendar/{token}.ics"


def _token() -> str:
    return secrets.token_urlsafe(32)


def _default_hours() -> dict[str, list[list[str]]]:
    return {
        day: [list(w) for w in windows] for day, windows in DEFAULT_CALENDAR.working_hours.items()
    }


def calendar_row(session: Session, owner_id: int) -> Calendar:
    """The owner's calendar, made with the defaults (and a feed token) on first use."""
    row = session.get(Calendar, owner_id)
    if row is not None:
        return row
    try:
        with session.begin_nested():  # a concurrent first use made it: read theirs
            row = Calendar(
                owner_id=owner_id,
                timezone=DEFAULT_CALENDAR.timezone,
                working_hours=_default_hours(),
                closed_dates=[],
                feed_token=_token(),
            )
            session.add(row)
    except IntegrityError:
        row = session.get(Calendar, owner_id, populate_existing=True)
        assert row is not None
    return row


def save_calendar(session: Session, owner_id: int, body: CalendarIn) -> Calendar:
    row = calendar_row(session, owner_id)
    row.timezone = body.timezone
    row.working_hours = {
        day: [list(window) for window in windows] for day, windows in body.working_hours.items()
    }
    row.holiday_country = body.holidays.country if body.holidays else None
    row.holiday_subdivision = body.holidays.subdivision if body.holidays else None
    row.closed_dates = sorted({d.isoformat() for d in body.closed_dates})
    row.updated_at = utcnow()  # also the revision running workflows order changes by
    session.flush()
    return row


def rotate_feed(session: Session, owner_id: int) -> Calendar:
    row = calendar_row(session, owner_id)
    row.feed_token = _token()
    session.flush()
    return row


def feed_owner(session: Session, token: str) -> int | None:
    return session.scalar(select(Calendar.owner_id).where(Calendar.feed_token == token))


def calendar_out(row: Calendar, base_url: str) -> CalendarOut:
    holidays = None
    if row.holiday_country:
        holidays = HolidaysOut(country=row.holiday_country, subdivision=row.holiday_subdivision)
    return CalendarOut(
        timezone=row.timezone,
        working_hours={
            day: [(w[0], w[1]) for w in windows] for day, windows in row.working_hours.items()
        },
        holidays=holidays,
        closed_dates=[date.fromisoformat(d) for d in row.closed_dates],
        feed_url=base_url.rstrip("/") + FEED_PATH.format(token=row.feed_token),
        updated_at=row.updated_at,
    )
