"""Placing a due time for one contact: the timing function over a calendar snapshot, the
contact's zone and, for `best_time`, their engagement of the last 90 days (shared by the
activity workflows ask and by every preview, so a preview shows what a workflow will do)."""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.calendar.best_time import ENGAGEMENT_TYPES, LOOKBACK, best_hour, explain_fallback
from nudge.calendar.schemas import PlacedOut
from nudge.calendar.snapshots import calendar_snapshot
from nudge.calendar.timing import CalendarSnapshot, NoOpenSlot, Placed, Wait, place
from nudge.core.models import Contact, CrmEvent
from nudge.core.vocabulary import Placement


def engagement(session: Session, contact_id: int, now: datetime) -> list[tuple[datetime, str]]:
    rows = session.execute(
        select(CrmEvent.occurred_at, CrmEvent.activity_type).where(
            CrmEvent.contact_id == contact_id,
            CrmEvent.kind == "activity",
            CrmEvent.activity_type.in_(ENGAGEMENT_TYPES),
            CrmEvent.occurred_at >= now - LOOKBACK,
            CrmEvent.occurred_at <= now,
        )
    ).all()
    return [(at, kind) for at, kind in rows if kind is not None]


def place_for(
    session: Session,
    contact: Contact | None,
    anchor: datetime,
    wait: Wait,
    placement: Placement,
    calendar: CalendarSnapshot,
    now: datetime,
) -> Placed:
    """Raises NoOpenSlot when the calendar has no open minute ahead (a 422 at the API)."""
    zone = contact.timezone if contact is not None else None
    if placement != "best_time" or contact is None:
        return place(anchor, wait, placement, calendar, contact_tz=zone)
    events = engagement(session, contact.id, now)
    best = best_hour(events, zone or calendar.timezone, now)
    if best is not None:
        return place(anchor, wait, placement, calendar, contact_tz=zone, best=best)
    placed = place(anchor, wait, "contact_hours", calendar, contact_tz=zone)
    why = explain_fallback(len(events))
    return placed.model_copy(update={"reason": f"{why}; {placed.reason}" if placed.reason else why})


NO_OPEN_SLOT = "the calendar has no open hour ahead; due where the wait ends"


def place_or_raw(
    session: Session,
    contact: Contact | None,
    anchor: datetime,
    wait: Wait,
    placement: Placement,
    calendar: CalendarSnapshot,
    now: datetime,
) -> Placed:
    """place_for, but a calendar with no open minute ahead can't stop an event or a running
    workflow: the wait's end stands, and the reason says so."""
    try:
        return place_for(session, contact, anchor, wait, placement, calendar, now)
    except NoOpenSlot:
        if wait.business_days is not None:  # no business day at all: count calendar days
            wait = Wait(days=wait.business_days)
        raw = place(anchor, wait, "anytime", calendar)
        return raw.model_copy(update={"reason": NO_OPEN_SLOT})


Placer = Callable[[datetime, Wait, Placement], Placed]


def placer_for(session: Session, owner_id: int, contact: Contact | None, now: datetime) -> Placer:
    """Places for one contact by the owner's calendar as it is now (read once, when first
    needed: an event whose rules are all `anytime` reads no calendar)."""
    calendar: CalendarSnapshot | None = None

    def placed(anchor: datetime, wait: Wait, placement: Placement) -> Placed:
        nonlocal calendar
        if calendar is None:
            calendar = calendar_snapshot(session, owner_id, anchor)
        return place_or_raw(session, contact, anchor, wait, placement, calendar, now)

    return placed


def local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M ") + zone


def placed_out(placed: Placed, calendar: CalendarSnapshot, contact: Contact | None) -> PlacedOut:
    zone = contact.timezone if contact is not None else None
    return PlacedOut(
        due_at=placed.due_at,
        due_local=local(placed.due_at, calendar.timezone),
        due_contact_local=local(placed.due_at, zone) if zone else None,
        placement=placed.placement,
        placement_reason=placed.reason,
    )
