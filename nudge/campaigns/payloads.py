"""Temporal payloads of a campaign enrollment."""

from datetime import datetime

from pydantic import BaseModel

from nudge.calendar.timing import CalendarSnapshot
from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    EnrollmentState,
    Placement,
    StepRunState,
)


class StepSpec(BaseModel):
    step_id: int
    order: int
    message_type: str
    name: str
    body: str = ""
    delay_days: float = 0


class EnrollmentInput(BaseModel):
    owner_id: int
    campaign_id: int
    contact_id: int
    enrollment_id: int
    batch_id: int
    steps: list[StepSpec]  # snapshot at enrollment: editing the campaign later moves nothing
    placement: Placement = "anytime"
    calendar: CalendarSnapshot | None = None  # a placed campaign's, frozen at enrollment


class StepOutcome(BaseModel):
    state: StepRunState
    reason: str | None = None
    task_id: int | None = None


class EnrollmentProgress(BaseModel):
    state: EnrollmentState
    steps_done: int
    next_due_at: datetime | None
    stop_reason: str | None
    # Signals sent by hand that the workflow could not read (the newest few).
    unread_signals: list[UnreadSignal] = []
