"""Activities of task event delivery: which event is next, one signed POST (an attempt
recorded either way), and dead-lettering."""

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nudge.core.errors import WEBHOOK_FAILED, WEBHOOK_REFUSED, permanent
from nudge.core.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.reminders.webhooks import Unresolvable, pin

MAX_ERROR = 500
MAX_WAIT = timedelta(hours=1)  # the retry policy's maximum interval
SENDING = ("pending", "retrying")


def message_id(event_id: int) -> str:
    """`webhook-id`: the same for every attempt and replay of one event, so a receiver can
    drop a repeat."""
    return f"evt_{event_id}"


class DeliveryActivities:
    """Sync activities (run in the worker's thread pool) over one session factory."""

    def __init__(self, sessions: sessionmaker[Session], *, allow_private: bool = False) -> None:
        self.sessions, self.allow_private = sessions, allow_private

    @activity.defn
    def next_delivery(self, subscription_id: int, task_id: int) -> int | None:
        """The oldest event of this task still to send to this subscription; None also while
        an earlier one is dead: a later event (even one written after the dead-letter) waits
        for its replay, so a task's events never arrive out of order."""
        with self.sessions() as session:
            row = session.execute(
                select(WebhookDelivery.id, WebhookDelivery.status)
                .where(
                    WebhookDelivery.subscription_id == subscription_id,
                    WebhookDelivery.task_id == task_id,
                    WebhookDelivery.status.in_((*SENDING, "dead")),
                )
                .order_by(WebhookDelivery.event_id)
                .limit(1)
            ).one_or_none()
        if row is None or row.status == "dead":
            return None
        return row.id

    def _record(self, delivery_id: int, **values: object) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(attempts=WebhookDelivery.attempts + 1, **values)
            )

    def _failed(self, delivery_id: int, why: str, code: int | None = None) -> ApplicationError:
        """Record a failed attempt (and when Temporal will try next), for the retry."""
        info = activity.info()
        first = info.retry_policy.initial_interval if info.retry_policy else timedelta(seconds=10)
        # Capped before it grows: 2**43 intervals overflow a timedelta.
        wait = min(first * 2 ** min(info.attempt - 1, 20), MAX_WAIT)
        self._record(
            delivery_id,
            status="retrying",
            last_status_code=code,
            last_error=why[:MAX_ERROR],
            next_attempt_at=datetime.now(UTC) + wait,
        )
        metrics.WEBHOOK_DELIVERIES.labels("failure").inc()
        return ApplicationError(why, type=WEBHOOK_FAILED)

    @activity.defn
    def deliver(self, delivery_id: int) -> int | None:
        """POST the event, signed the Standard Webhooks way; a non-2xx answer (or none) fails
        the attempt, so Temporal retries it. None: there is nothing (more) to send."""
        with self.sessions() as session:
            row = session.execute(
                select(WebhookDelivery, OutboxEvent, WebhookSubscription)
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .where(WebhookDelivery.id == delivery_id)
            ).one_or_none()
        if row is None or row[0].status not in SENDING:
            return None  # deleted with its subscription, or already delivered: not again
        _, event, subscription = row
        try:
            target = pin(subscription.url, allow_private=self.allow_private)
        except Unresolvable as err:
            raise self._failed(delivery_id, f"unreachable: {err}") from None
        except ValueError as err:
            self._record(delivery_id, last_error=f"refused: {err}"[:MAX_ERROR])
            raise permanent(WEBHOOK_REFUSED, f"refused: {err}") from None
        body = json.dumps(event.payload, separators=(",", ":"))
        sent_at = datetime.now(UTC)
        signature = Webhook(subscription.secret).sign(message_id(event.id), sent_at, body)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id(event.id),
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
            "Host": target.host,
        }
        try:
            with httpx.Client(timeout=10) as http:
                resp = http.post(
                    target.url,
                    content=body.encode(),
                    headers=headers,
                    extensions={"sni_hostname": target.sni} if target.sni else None,
                )
        except httpx.HTTPError as err:
            raise self._failed(delivery_id, f"unreachable: {err.__class__.__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise self._failed(delivery_id, f"answered {resp.status_code}", code=resp.status_code)
        self._record(
            delivery_id,
            status="delivered",
            last_status_code=resp.status_code,
            last_error=None,
            next_attempt_at=None,
            delivered_at=datetime.now(UTC),
        )
        metrics.WEBHOOK_DELIVERIES.labels("success").inc()
        return resp.status_code

    @activity.defn
    def dead_letter(self, delivery_id: int) -> int:
        """Past the retry horizon (or refused): this delivery is dead, and so are the later
        ones of its task for this subscription, which may not overtake it. Replay revives
        them. Returns how many died."""
        with transaction(self.sessions) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status not in SENDING:
                return 0
            later = session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.subscription_id == delivery.subscription_id,
                    WebhookDelivery.task_id == delivery.task_id,
                    WebhookDelivery.status.in_(SENDING),
                    WebhookDelivery.event_id > delivery.event_id,
                )
            ).all()
            delivery.status, delivery.next_attempt_at = "dead", None
            for held in later:
                held.status, held.next_attempt_at = "dead", None
                held.last_error = f"held behind dead delivery {delivery_id} (replay both)"
            return 1 + len(later)
