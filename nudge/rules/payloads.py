"""Temporal payloads of a rule firing."""

from datetime import datetime

from pydantic import BaseModel

from nudge.core.vocabulary import (
    FiringEnd,
)


class FiringInput(BaseModel):
    """One rule firing: the row holds the event snapshot; the times say when to act."""

    firing_id: int
    rule_id: int
    owner_id: int
    contact_id: int
    create_at: datetime  # when the task is written (its reminder time, if it has one)
    due_at: datetime  # event time + delay_hours


class FiringOutcome(BaseModel):
    state: FiringEnd
    reason: str | None = None
    task_id: int | None = None
    reminder_at: datetime | None = None
