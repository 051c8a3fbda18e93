"""The owner's working calendar (what every placed due time reads) and its ICS feed."""

from datetime import UTC, datetime

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session, sessionmaker

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep
from nudge.calendar.changes import adopt_calendar_everywhere
from nudge.calendar.feed import build_feed, open_tasks
from nudge.calendar.schemas import CalendarChangeOut, CalendarIn, CalendarOut
from nudge.calendar.service import (
    calendar_out,
    calendar_row,
    feed_owner,
    rotate_feed,
    save_calendar,
)
from nudge.calendar.snapshots import snapshot_of
from nudge.calendar.timing import CalendarSnapshot
from nudge.core.errors import NotFound
from nudge.core.models import Owner
from nudge.platform.db import transaction

router = APIRouter(tags=["calendar"], route_class=JsonBoundaryRoute)


@router.get("/api/account/calendar/", response_model=CalendarOut)
def get_calendar(owner: OwnerDep, session: SessionDep, request: Request) -> CalendarOut:
    """Your working calendar; until you save one: UTC, Mon-Fri 09:00-17:00, no holidays."""
    row = calendar_row(session, owner.id)
    session.commit()  # the first read makes the row (and the feed token)
    return calendar_out(row, str(request.base_url))


def _save(
    sessions: sessionmaker[Session], owner_id: int, body: CalendarIn, base_url: str
) -> tuple[CalendarOut, CalendarSnapshot]:
    with transaction(sessions) as session:
        row = save_calendar(session, owner_id, body)
        return calendar_out(row, base_url), snapshot_of(row, datetime.now(UTC))


@router.put("/api/account/calendar/", response_model=CalendarChangeOut)
async def put_calendar(
    body: CalendarIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    request: Request,
) -> CalendarChangeOut:
    """Replace your calendar. New starts and rule firings place their due times by it at
    once; running sequences, cadences and campaigns only with `apply_to_running:
    future_steps` (then `migrated` counts the ones told)."""
    out, snap = await to_thread.run_sync(_save, sessions, owner.id, body, str(request.base_url))
    migrated = 0
    if body.apply_to_running == "future_steps":
        migrated = await adopt_calendar_everywhere(client, sessions, owner.id, snap, out.updated_at)
    return CalendarChangeOut(
        **out.model_dump(), apply_to_running=body.apply_to_running, migrated=migrated
    )


@router.post("/api/account/calendar/feed/rotate/", response_model=CalendarOut)
def rotate(owner: OwnerDep, session: SessionDep, request: Request) -> CalendarOut:
    """A new secret feed URL; the old one answers 404 from now on."""
    row = rotate_feed(session, owner.id)
    session.commit()
    return calendar_out(row, str(request.base_url))


@router.get(
    "/api/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {}},
)
def feed(token: str, session: SessionDep) -> Response:
    """Your open tasks as an ICS calendar: one event per task at its due time, with an alarm
    at its reminder. No API key: the URL is the secret (GET /api/account/calendar/ shows it)."""
    owner_id = feed_owner(session, token)
    owner = session.get(Owner, owner_id) if owner_id is not None else None
    if owner is None:
        raise NotFound("no such calendar feed (it may have been rotated)")
    now = datetime.now(UTC)
    body = build_feed(owner.name, open_tasks(session, owner.id, now), now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=60"},
    )
