"""Temporal payloads of calendar-aware timing: a workflow asks an activity to place a due
time by the calendar snapshot it holds (the activity's answer is in its history, so replay
never looks up a zone or a holiday again)."""

from datetime import datetime

from pydantic import BaseModel

from nudge.calendar.timing import CalendarSnapshot, Wait
from nudge.core.vocabulary import Placement


class PlaceRequest(BaseModel):
    owner_id: int
    contact_id: int
    anchor: datetime
    wait: Wait
    placement: Placement
    # The workflow's frozen calendar; None (it started without a placed step, and a live
    # edit added one): the owner's calendar as the activity finds it, kept in the history.
    calendar: CalendarSnapshot | None


class CalendarChange(BaseModel):
    """The `adopt_calendar` signal: place the due times not yet placed by this calendar.
    `revision` (when it was saved) orders two changes delivered out of order: an older one
    than the workflow has is ignored."""

    calendar: CalendarSnapshot
    revision: float = 0
