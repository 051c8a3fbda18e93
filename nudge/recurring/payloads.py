"""Temporal payloads of recurring check-ins."""

from datetime import datetime

from pydantic import BaseModel

from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    Cadence,
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


class CadenceChange(BaseModel):
    cadence: Cadence
    template: TaskTemplate | None = None


class CadenceTask(BaseModel):
    owner_id: int
    contact_id: int
    workflow_id: str
    cadence: Cadence
    template: TaskTemplate
    due_at: datetime


class RecurringProgress(BaseModel):
    workflow_id: str
    cadence: Cadence
    state: RecurringState
    next_due_at: datetime | None
    cycles_this_run: int
    stop_reason: str | None
    # Signals sent by hand that the workflow could not read (the newest few of this run).
    unread_signals: list[UnreadSignal] = []
