"""The transactional outbox: a task change writes its event (and one delivery row per
subscription that wants it) in the same database transaction as the change itself, so an
event is sent if and only if the change committed.

After the commit, the process that wrote it asks for each (subscription, task) pair's delivery
workflow to run (a "kick": signal-with-start, so it is idempotent). A kick lost to a crash or a
Temporal outage is made up by the periodic sweep, which starts the workflow of every delivery
still pending; nothing is lost, and the delivery workflow sends each event once.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from nudge.core.models import OutboxEvent, Task, WebhookDelivery, WebhookSubscription
from nudge.core.vocabulary import TaskEventType
from nudge.tasks.schemas import TaskOut

log = logging.getLogger(__name__)

PENDING_KEY: Final = "nudge.outbox.pairs"
# Called (from any thread) with the (subscription, task, owner) a commit left to deliver.
Kicker = Callable[[set[tuple[int, int, int]]], None]
_kicker: Kicker | None = None


def set_kicker(kicker: Kicker | None) -> None:
    """The process's way of starting delivery workflows: the worker's and the API's own
    Temporal client (the last one set wins; the periodic sweep covers a process without)."""
    global _kicker
    _kicker = kicker


def task_payload(task: Task, kind: TaskEventType, at: datetime | None = None) -> dict:
    """The body subscribers get: the type, when, and the task as GET /api/tasks/{id}/ shows
    it."""
    return {
        "type": kind,
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "data": TaskOut.model_validate(task).model_dump(mode="json"),
    }


def subscribers(session: Session, owner_id: int, kind: TaskEventType) -> list[int]:
    rows = session.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types).where(
            WebhookSubscription.owner_id == owner_id
        )
    ).all()
    return [sub_id for sub_id, types in rows if kind in types]


def task_event(
    session: Session, task: Task, kind: TaskEventType, wanted: list[int] | None = None
) -> OutboxEvent | None:
    """Record the event inside the caller's transaction (None: nobody subscribes to it).
    Call it after the change is flushed, so the payload shows the task as committed.
    `wanted`: the owner's subscribers to it, when the caller asked already."""
    if wanted is None:
        wanted = subscribers(session, task.owner_id, kind)
    if not wanted:
        return None
    session.flush()
    row = OutboxEvent(
        owner_id=task.owner_id, task_id=task.id, type=kind, payload=task_payload(task, kind)
    )
    session.add(row)
    session.flush()
    session.add_all(
        WebhookDelivery(
            subscription_id=sub_id,
            event_id=row.id,
            owner_id=task.owner_id,
            task_id=task.id,
            type=kind,
            status="pending",
            attempts=0,
        )
        for sub_id in wanted
    )
    pending = session.info.setdefault(PENDING_KEY, set())
    pending.update((sub_id, task.id, task.owner_id) for sub_id in wanted)
    return row


@event.listens_for(Session, "after_commit")
def _kick_after_commit(session: Session) -> None:
    pairs = session.info.pop(PENDING_KEY, None)
    if pairs and _kicker is not None:
        try:
            _kicker(pairs)
        except Exception:  # the sweep starts what a failed kick did not
            log.exception("could not kick %d delivery workflows", len(pairs))


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
