"""Temporal payloads of recurring check-ins."""

from datetime import date, datetime

from pydantic import BaseModel

from nudge.calendar.timing import CalendarSnapshot
from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    Cadence,
    Placement,
    Priority,
    RecurringState,
)


class TaskTemplate(BaseModel):
    title: str = "{{ cadence | title }} check-in with {{ contact_name }}"
    description: str = ""
    priority: Priority = "medium"


class RecurringInput(BaseModel):
    owner_id: int
    contact_id: int
    cadence: Cadence
    template: TaskTemplate = TaskTemplate()
    anchor: datetime | None = None  # None: the workflow's start time
    done: int = 0  # occurrences already made since the anchor (carried across continue-as-new)
    # Where each check-in lands; a placed one reads the calendar frozen here at the start
    # (or given by a later change or adopt_calendar signal).
    placement: Placement = "anytime"
    calendar: CalendarSnapshot | None = None


class CadenceChange(BaseModel):
    cadence: Cadence
    template: TaskTemplate | None = None
    placement: Placement | None = None  # None: keep the running one's
    calendar: CalendarSnapshot | None = None  # only for one that has none yet


class CadenceTask(BaseModel):
    owner_id: int
    contact_id: int
    workflow_id: str
    cadence: Cadence
    template: TaskTemplate
    due_at: datetime
    # A placed check-in's cadence date, which keys its task; None: due_at's date (unplaced).
    occurrence: date | None = None


class RecurringProgress(BaseModel):
    workflow_id: str
    cadence: Cadence
    state: RecurringState
    next_due_at: datetime | None
    cycles_this_run: int
    stop_reason: str | None
    placement: Placement = "anytime"
    # Why the next check-in's placed due time moved from its cadence date.
    placement_reason: str | None = None
    # next_due_at is final: unplaced, or placed by the calendar (not its cadence date yet).
    placed: bool = True
    # Signals sent by hand that the workflow could not read (the newest few of this run).
    unread_signals: list[UnreadSignal] = []
