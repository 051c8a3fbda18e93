"""Payloads that cross between the API, workflows and activities (pydantic, via the
pydantic data converter). Kept free of I/O so the workflow sandbox can import them."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from nudge.schedule import SequenceType

SequenceState = Literal["running", "paused", "completed", "cancelled", "stopped"]


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


class ContactEvent(BaseModel):
    type: str
    status: str | None = None


class ContactCard(BaseModel):
    name: str
    email: str | None


class NewTask(BaseModel):
    """A task to write once: ``idempotency_key`` makes a retried write find the first."""

    idempotency_key: str
    owner_id: int
    contact_id: int
    batch_id: int | None = None
    workflow_id: str | None = None
    source: str
    title: str
    description: str = ""
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    due_at: datetime


class CreatedTask(BaseModel):
    task_id: int
    created: bool  # False when an earlier attempt had already written it


class BatchOutcome(BaseModel):
    batch_id: int
    status: Literal["completed", "cancelled", "stopped"]
    reason: str | None = None


class FiringInput(BaseModel):
    """One rule firing: the row holds the event snapshot; the times say when to act."""

    firing_id: int
    rule_id: int
    owner_id: int
    contact_id: int
    create_at: datetime  # when the task is written (its reminder time, if it has one)
    due_at: datetime  # event time + delay_hours


class FiringOutcome(BaseModel):
    state: Literal["created", "skipped", "cancelled"]
    reason: str | None = None
    task_id: int | None = None
    reminder_at: datetime | None = None


class ReminderInput(BaseModel):
    owner_id: int
    task_id: int
    remind_at: datetime


class ReminderPlan(BaseModel):
    deliver: bool
    reason: str | None = None
    webhook: bool = False
    body: str | None = None  # the exact JSON the webhook gets (and the signature covers)


Cadence = Literal["daily", "weekly", "biweekly", "monthly", "quarterly"]


class TaskTemplate(BaseModel):
    title: str = "{{ cadence | title }} check-in with {{ contact_name }}"
    description: str = ""
    priority: Literal["low", "medium", "high", "urgent"] = "medium"


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
    state: Literal["running", "stopped"]
    next_due_at: datetime | None
    cycles_this_run: int
    stop_reason: str | None


class SweepPage(BaseModel):
    """One bounded page of a periodic job: where to resume, and what it did."""

    after_id: int = 0
    now: datetime
    limit: int = 500


class SweepResult(BaseModel):
    examined: int = 0
    acted: int = 0
    last_id: int = 0
    done: bool = True

    def plus(self, other: "SweepResult") -> "SweepResult":
        return SweepResult(
            examined=self.examined + other.examined,
            acted=self.acted + other.acted,
            last_id=other.last_id,
            done=other.done,
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


class StepOutcome(BaseModel):
    state: Literal["created", "skipped"]
    reason: str | None = None
    task_id: int | None = None


class EnrollmentProgress(BaseModel):
    state: Literal["running", "completed", "stopped", "cancelled"]
    steps_done: int
    next_due_at: datetime | None
    stop_reason: str | None
