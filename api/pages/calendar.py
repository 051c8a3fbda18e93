"""The calendar page: the owner's working calendar (time zone, hours, holidays, closed dates)
that placed due times read, saved exactly as PUT /api/account/calendar/ saves it, and its
secret ICS feed URL to copy or rotate."""

import functools
from datetime import UTC, datetime
from typing import Annotated, Any

import holidays as pyholidays
from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import ClientDep, SessionsDep
from api.pages.calendar_form import APPLY, DAY_NAMES, CalendarForm, hours_summary
from api.pages.render import render
from api.pages.session import BASE, PageDep, PageSession, PostDep
from api.params import MAX_ID
from nudge.calendar.changes import adopt_calendar_everywhere
from nudge.calendar.closures import region_label
from nudge.calendar.schemas import CalendarIn, CalendarOut
from nudge.calendar.service import calendar_out, calendar_row, rotate_feed, save_calendar
from nudge.calendar.snapshots import snapshot_of
from nudge.calendar.timing import DEFAULT_CALENDAR, CalendarSnapshot
from nudge.core.models import Calendar
from nudge.core.types import TIME_ZONES
from nudge.platform.db import transaction

router = APIRouter(prefix=f"{BASE}/calendar", tags=["web page"])
NOTICES = {
    "calendar-saved": "Calendar saved: new rule firings and enrollments place their due times "
    "by it.",
    "feed-rotated": "New feed URL made: the old one no longer works. Subscribe to this one in "
    "your calendar app.",
}


@functools.cache
def countries() -> list[str]:
    """The two-letter codes public holidays are known for (the form's suggestions)."""
    return sorted(c for c in pyholidays.list_supported_countries() if len(c) == 2)


def calendar_card(session: Session, owner_id: int) -> dict[str, Any]:
    """The calendar in a few words for the dashboard: the defaults while it has no row (only
    read here: the calendar page makes the row)."""
    row = session.get(Calendar, owner_id)
    if row is None:
        return {
            "timezone": DEFAULT_CALENDAR.timezone,
            "hours": hours_summary(DEFAULT_CALENDAR.working_hours),
            "holidays": None,
            "closed": 0,
        }
    country = row.holiday_country
    return {
        "timezone": row.timezone,
        "hours": hours_summary(row.working_hours),
        "holidays": region_label(country, row.holiday_subdivision) if country else None,
        "closed": len(row.closed_dates),
    }


def _current(sessions: SessionsDep, owner_id: int, base_url: str) -> CalendarOut:
    with transaction(sessions) as session:  # the first read makes the row and its feed token
        return calendar_out(calendar_row(session, owner_id), base_url)


def _notice(done: str | None, migrated: int | None) -> str | None:
    notice = NOTICES.get(done or "")
    if notice is not None and done == "calendar-saved" and migrated is not None:
        one = migrated == 1
        notice += (
            f" {migrated} running workflow{'' if one else 's'} will use it for "
            f"{'its' if one else 'their'} next due times."
        )
    return notice


async def _page(
    request: Request,
    page: PageSession,
    sessions: SessionsDep,
    form: CalendarForm | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    out = await to_thread.run_sync(_current, sessions, page.owner.id, str(request.base_url))
    context = {
        "page": page,
        "form": form or CalendarForm.from_calendar(out),
        "calendar": out,
        "days": DAY_NAMES,
        "apply": APPLY,
        "zones": TIME_ZONES,
        "countries": countries(),
        "notice": notice,
    }
    return render(request, "calendar.html", context, status_code)


@router.get("", response_class=HTMLResponse, summary="Form: your working calendar")
async def calendar_page(
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    done: Annotated[str | None, Query(description="What the last action did.")] = None,
    migrated: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Running workflows told to use it.")
    ] = None,
) -> HTMLResponse:
    return await _page(request, page, sessions, notice=_notice(done, migrated))


def _write(
    sessions: SessionsDep, owner_id: int, body: CalendarIn
) -> tuple[CalendarSnapshot, datetime]:
    with transaction(sessions) as session:
        row = save_calendar(session, owner_id, body)
        session.flush()
        return snapshot_of(row, datetime.now(UTC)), row.updated_at


@router.post("", response_class=HTMLResponse, summary="Save the calendar from the form")
async def save(
    request: Request, page: PostDep, sessions: SessionsDep, client: ClientDep
) -> Response:
    """Checked exactly as the API checks it; any problem comes back beside its field and
    nothing is saved. With future_steps, running workflows are told (the notice counts them)."""
    form = CalendarForm.from_post(await request.form())
    body = form.checked()
    if body is None:
        return await _page(request, page, sessions, form, status_code=422)
    snap, saved_at = await to_thread.run_sync(_write, sessions, page.owner.id, body)
    target = f"{BASE}/calendar?done=calendar-saved"
    if body.apply_to_running == "future_steps":
        migrated = await adopt_calendar_everywhere(client, sessions, page.owner.id, snap, saved_at)
        target += f"&migrated={migrated}"
    return RedirectResponse(target, 303)


@router.post("/feed/rotate", summary="A new secret feed URL")
async def rotate(page: PostDep, sessions: SessionsDep) -> RedirectResponse:
    """The old URL answers 404 from now on."""

    def write() -> None:
        with transaction(sessions) as session:
            rotate_feed(session, page.owner.id)

    await to_thread.run_sync(write)
    return RedirectResponse(f"{BASE}/calendar?done=feed-rotated#feed", 303)
