"""Temporal payloads of the sequence workflow (pydantic, free of I/O: the sandbox imports them)."""

from datetime import date, datetime

from pydantic import BaseModel

from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    EnrollJobStatus,
    SequenceState,
    SequenceType,
)
from nudge.sequences.steps import DefinedProgress, Migration, StepOut


class SequenceInput(BaseModel):
    owner_id: int
    contact_id: int
    batch_id: int
    sequence_type: SequenceType
    start_delay_hours: float = 0
    enroll_job_id: int | None = None  # the bulk enrollment that started it, if one did
    # When its steps are counted from (plus start_delay_hours): the API chooses it and answers
    # with the due times it gives, with no round trip to ask Temporal. None (runs started
    # before it existed): the workflow's start time as the server recorded it.
    anchor: datetime | None = None


class PlannedStep(BaseModel):
    step: int
    due_at: datetime


class SequenceProgress(BaseModel):
    workflow_id: str
    batch_id: int
    sequence_type: str  # a preset's name, or "custom"
    state: SequenceState
    step: int  # steps whose task exists
    next_due_at: datetime | None
    tasks_created: int
    stop_reason: str | None
    planned: list[PlannedStep]
    # Signals sent by hand that the workflow could not read (the newest few).
    unread_signals: list[UnreadSignal] = []
    # A custom sequence's enrollment: its definition, version, steps and live edits.
    definition_id: int | None = None
    version: int | None = None
    steps: list[StepOut] = []
    migrations: list[Migration] = []


def from_defined(p: DefinedProgress) -> SequenceProgress:
    """An enrollment's progress in the shape every sequence answers with."""
    return SequenceProgress(
        workflow_id=p.workflow_id,
        batch_id=p.batch_id,
        sequence_type="custom",
        state=p.state,
        step=p.step,
        next_due_at=p.next_due_at,
        tasks_created=p.tasks_created,
        stop_reason=p.stop_reason,
        planned=[PlannedStep(step=s.number, due_at=s.due_at) for s in p.steps if s.due_at],
        unread_signals=p.unread_signals,
        definition_id=p.definition_id,
        version=p.version,
        steps=p.steps,
        migrations=p.migrations,
    )


# Bulk enrollment (nudge.sequences.enroll).


class EnrollJobInput(BaseModel):
    job_id: int
    owner_id: int
    definition_id: int
    prepared: bool = False  # its contacts are written (set when continuing as new)


class EnrollPage(BaseModel):
    job_id: int
    day: date  # today, as the job's workflow sees it: the daily limit counts per day


class PageResult(BaseModel):
    started: int  # contacts settled in this page
    pending: int  # contacts left after it
    limited: bool  # the daily limit stopped the page: the rest wait for tomorrow


class JobStatus(BaseModel):
    job_id: int
    status: EnrollJobStatus
    detail: str | None = None
