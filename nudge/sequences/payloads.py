"""Temporal payloads of the sequence workflow (pydantic, free of I/O: the sandbox imports them)."""

from datetime import datetime

from pydantic import BaseModel

from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    SequenceState,
    SequenceType,
)


class SequenceInput(BaseModel):
    owner_id: int
    contact_id: int
    batch_id: int
    sequence_type: SequenceType
    # Steps are counted from the workflow's start time as the server recorded it, so the
    # API (which reads it back with describe) and the workflow plan the same due times.
    start_delay_hours: float = 0


class PlannedStep(BaseModel):
    step: int
    due_at: datetime


class SequenceProgress(BaseModel):
    workflow_id: str
    batch_id: int
    sequence_type: SequenceType
    state: SequenceState
    step: int  # steps whose task exists
    next_due_at: datetime | None
    tasks_created: int
    stop_reason: str | None
    planned: list[PlannedStep]
    # Signals sent by hand that the workflow could not read (the newest few).
    unread_signals: list[UnreadSignal] = []
