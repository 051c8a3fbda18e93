"""Reminder delivery: a notification row once per task, then the owner's webhook."""

import json

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nudge.core.errors import NO_WEBHOOK, WEBHOOK_FAILED, WEBHOOK_REFUSED, WRITE_RACE, permanent
from nudge.core.ids import reminder_workflow_id
from nudge.core.models import Notification, Owner, Task
from nudge.core.vocabulary import ReminderStatus
from nudge.integrations.outbox import task_event
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.reminders.payloads import ReminderPlan
from nudge.reminders.webhooks import Unresolvable, pin, signed_headers


class ReminderActivities:
    def __init__(self, sessions: sessionmaker[Session], *, allow_private: bool = False) -> None:
        self.sessions = sessions
        self.allow_private = allow_private

    @activity.defn
    def record_reminder(self, task_id: int) -> ReminderPlan:
        """Skip a task that is done; else write its one notification and plan the webhook."""
        try:
            with transaction(self.sessions) as session:
                plan, settled = _record(session, task_id)
        except IntegrityError:
            # A concurrent attempt wrote the notification first: this attempt retries.
            raise ApplicationError(
                "notification written concurrently; retrying", type=WRITE_RACE
            ) from None
        _count(settled)
        return plan

    @activity.defn
    def post_webhook(self, task_id: int, body: str) -> int:
        """POST the signed body; a non-2xx answer fails the attempt so Temporal retries."""
        with self.sessions() as session:
            task = session.get(Task, task_id)
            owner = session.get(Owner, task.owner_id) if task else None
        if owner is None or not owner.webhook_url:
            raise permanent(NO_WEBHOOK, "no webhook configured any more")
        try:
            target = pin(owner.webhook_url, allow_private=self.allow_private)
        except Unresolvable as err:
            metrics.WEBHOOK_DELIVERIES.labels("failure").inc()
            raise ApplicationError(f"webhook unreachable: {err}", type=WEBHOOK_FAILED) from None
        except ValueError as err:
            raise permanent(WEBHOOK_REFUSED, f"refused: {err}") from None
        data = body.encode()
        headers = signed_headers(owner.webhook_secret or "", data, reminder_workflow_id(task_id))
        try:
            with httpx.Client(timeout=10) as http:
                resp = http.post(
                    target.url,
                    content=data,
                    headers={**headers, "Host": target.host},
                    extensions={"sni_hostname": target.sni} if target.sni else None,
                )
        except httpx.HTTPError as err:
            metrics.WEBHOOK_DELIVERIES.labels("failure").inc()
            raise ApplicationError(
                f"webhook unreachable: {err.__class__.__name__}", type=WEBHOOK_FAILED
            ) from None
        ok = 200 <= resp.status_code < 300
        metrics.WEBHOOK_DELIVERIES.labels("success" if ok else "failure").inc()
        if not ok:
            raise ApplicationError(f"webhook answered {resp.status_code}", type=WEBHOOK_FAILED)
        return resp.status_code

    @activity.defn
    def mark_reminder(self, task_id: int, status: ReminderStatus, detail: str) -> None:
        settled = None
        with transaction(self.sessions) as session:
            task = session.get(Task, task_id)
            if task is not None:
                if task.reminder_status != status:  # a retry after the commit counts nothing
                    settled = status
                task.reminder_status, task.reminder_detail = status, detail[:500]
        _count(settled)


def _record(session: Session, task_id: int) -> tuple[ReminderPlan, ReminderStatus | None]:
    """The plan, and the reminder's end if this call settled it (a retry finds it settled)."""
    # Locked: a completion committing meanwhile orders its task event after this one's.
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or task.status != "open":
        settled: ReminderStatus | None = None
        if task is not None:
            settled = "skipped" if task.reminder_status != "skipped" else None
            task.reminder_status = "skipped"
            task.reminder_detail = f"task {task.status} before its reminder"
        return ReminderPlan(deliver=False, reason="task is no longer open"), settled
    owner = session.get(Owner, task.owner_id)
    if session.scalar(select(Notification.id).where(Notification.task_id == task_id)) is None:
        session.add(Notification(owner_id=task.owner_id, task_id=task_id, title=task.title))
        # Once per task, with the notification (a retried record finds the row).
        task_event(session, task, "task.reminder_due")
    body = json.dumps(
        {
            "type": "task.reminder",
            "delivery_id": reminder_workflow_id(task_id),
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
    # Without a webhook the notification row is the delivery; with one, mark_reminder settles.
    status: ReminderStatus = "delivering" if webhook else "delivered"
    settled = status if status == "delivered" and task.reminder_status != status else None
    task.reminder_status = status
    return ReminderPlan(deliver=True, webhook=webhook, body=body), settled


def _count(settled: ReminderStatus | None) -> None:
    """One count per reminder's end (delivered, skipped, failed), after its commit."""
    if settled in ("delivered", "skipped", "failed"):
        metrics.REMINDERS.labels(settled).inc()
