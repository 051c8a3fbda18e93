"""Reminder delivery: a notification row once per task, then the owner's webhook."""

import hashlib
import hmac
import json

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nudge.contracts import ReminderPlan
from nudge.db import transaction
from nudge.models import Notification, Owner, Task, TaskStatus
from nudge.webhooks import internal_target

SIGNATURE_HEADER = "X-Nudge-Signature"
DELIVERY_HEADER = "X-Nudge-Delivery"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ReminderActivities:
    def __init__(self, sessions: sessionmaker[Session], *, allow_private: bool = False) -> None:
        self.sessions = sessions
        self.allow_private = allow_private

    @activity.defn
    def record_reminder(self, task_id: int) -> ReminderPlan:
        """Skip a task that is done; else write its one notification and plan the webhook."""
        try:
            with transaction(self.sessions) as session:
                task = session.get(Task, task_id)
                if task is None or task.status != TaskStatus.open:
                    if task is not None:
                        task.reminder_status = "skipped"
                        task.reminder_detail = f"task {task.status} before its reminder"
                    return ReminderPlan(deliver=False, reason="task is no longer open")
                owner = session.get(Owner, task.owner_id)
                if (
                    session.scalar(select(Notification.id).where(Notification.task_id == task_id))
                    is None
                ):
                    session.add(
                        Notification(owner_id=task.owner_id, task_id=task_id, title=task.title)
                    )
                body = json.dumps(
                    {
                        "type": "task.reminder",
                        "delivery_id": f"reminder-task-{task_id}",
                        "task": {
                            "id": task.id,
                            "title": task.title,
                            "priority": task.priority,
                            "due_at": task.due_at.isoformat(),
                            "contact_id": task.contact_id,
                        },
                    },
                    sort_keys=True,
                )
                webhook = bool(owner and owner.webhook_url)
                task.reminder_status = "delivering" if webhook else "delivered"
                return ReminderPlan(deliver=True, webhook=webhook, body=body)
        except IntegrityError:
            # A concurrent attempt wrote the notification first: this attempt retries.
            raise ApplicationError("notification written concurrently; retrying") from None

    @activity.defn
    def post_webhook(self, task_id: int, body: str) -> int:
        """POST the signed body; a non-2xx answer fails the attempt so Temporal retries."""
        with self.sessions() as session:
            task = session.get(Task, task_id)
            owner = session.get(Owner, task.owner_id) if task else None
        if owner is None or not owner.webhook_url:
            raise ApplicationError("no webhook configured any more", non_retryable=True)
        why = None if self.allow_private else internal_target(owner.webhook_url, resolve=True)
        if why:
            raise ApplicationError(f"refused: {why}", non_retryable=True)
        data = body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(owner.webhook_secret or "", data),
            DELIVERY_HEADER: f"reminder-task-{task_id}",  # receivers dedupe retries on it
        }
        try:
            resp = httpx.post(owner.webhook_url, content=data, headers=headers, timeout=10)
        except httpx.HTTPError as err:
            raise ApplicationError(f"webhook unreachable: {err.__class__.__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise ApplicationError(f"webhook answered {resp.status_code}")
        return resp.status_code

    @activity.defn
    def mark_reminder(self, task_id: int, status: str, detail: str) -> None:
        with transaction(self.sessions) as session:
            task = session.get(Task, task_id)
            if task is not None:
                task.reminder_status, task.reminder_detail = status, detail[:500]
