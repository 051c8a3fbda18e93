"""Temporal payloads of the task-writing activities."""

from datetime import datetime

from pydantic import BaseModel

from nudge.core.vocabulary import (
    BatchEnd,
    Priority,
)


class ContactCard(BaseModel):
    name: str
    email: str | None


class NewTask(BaseModel):
    """A task to write once: ``idempotency_key`` (nudge.core.ids) makes a retried write find
    the first. Every producer describes its task with this, and nudge.tasks.writer writes it."""

    idempotency_key: str
    owner_id: int
    contact_id: int | None
    batch_id: int | None = None
    workflow_id: str | None = None
    source: str
    kind: str | None = None  # a custom sequence step's kind
    title: str
    description: str = ""
    priority: Priority = "medium"
    due_at: datetime
    reminder_at: datetime | None = None
    # The rule that made it: its `tasks_created` moves in the transaction that writes it.
    rule_id: int | None = None
    # Also count a trigger (`times_triggered`, `last_fired_at`): for producers whose every
    # task is one trigger (a time rule's contact, an escalation). An event-driven firing
    # counted its trigger when the event arrived.
    counts_trigger: bool = False


class CreatedTask(BaseModel):
    task_id: int
    created: bool  # False when an earlier attempt had already written it


class BatchOutcome(BaseModel):
    batch_id: int
    status: BatchEnd
    reason: str | None = None
