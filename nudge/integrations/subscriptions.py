"""Task event subscriptions: made with a Standard Webhooks secret shown once, listed with the
health of their deliveries; deliveries listed and replayed (one, or a time range)."""

import base64
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nudge.core.errors import NotFound
from nudge.core.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from nudge.integrations.outbox import PENDING_KEY
from nudge.integrations.subscription_schemas import (
    DeliveryHealth,
    ReplayRangeIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def owned_subscription(session: Session, owner_id: int, sub_id: int) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    if sub is None or sub.owner_id != owner_id:
        raise NotFound(f"subscription {sub_id} not found")
    return sub


def health(session: Session, sub_ids: list[int]) -> dict[int, DeliveryHealth]:
    counts: dict[int, DeliveryHealth] = {i: DeliveryHealth() for i in sub_ids}
    rows = session.execute(
        select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
        .where(WebhookDelivery.subscription_id.in_(sub_ids))
        .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)
    ).all()
    for sub_id, status, n in rows:
        setattr(counts[sub_id], status, n)
    return counts


def subscription_out(session: Session, sub: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        event_types=list(sub.event_types),
        created_at=sub.created_at,
        health=health(session, [sub.id])[sub.id],
    )


def list_subscriptions(session: Session, owner_id: int) -> list[SubscriptionOut]:
    subs = session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.owner_id == owner_id)
        .order_by(WebhookSubscription.id)
    ).all()
    counts = health(session, [s.id for s in subs])
    return [
        SubscriptionOut(
            id=s.id,
            url=s.url,
            event_types=list(s.event_types),
            created_at=s.created_at,
            health=counts[s.id],
        )
        for s in subs
    ]


def create_subscription(
    session: Session, owner_id: int, body: SubscriptionIn
) -> SubscriptionCreated:
    sub = WebhookSubscription(
        owner_id=owner_id, url=body.url, event_types=list(body.event_types), secret=new_secret()
    )
    session.add(sub)
    session.flush()
    return SubscriptionCreated(**subscription_out(session, sub).model_dump(), secret=sub.secret)


def change_subscription(
    session: Session, owner_id: int, sub_id: int, body: SubscriptionPatch
) -> SubscriptionOut:
    sub = owned_subscription(session, owner_id, sub_id)
    if body.url is not None:
        sub.url = body.url
    if body.event_types is not None:
        sub.event_types = list(body.event_types)
    session.flush()
    return subscription_out(session, sub)


def _revive(session: Session, deliveries: list[WebhookDelivery]) -> int:
    """Pending again, attempts from zero; the commit kicks their delivery workflows."""
    for delivery in deliveries:
        delivery.status, delivery.attempts = "pending", 0
        delivery.last_error, delivery.next_attempt_at = None, None
    pairs = session.info.setdefault(PENDING_KEY, set())
    pairs.update((d.subscription_id, d.task_id, d.owner_id) for d in deliveries)
    return len(deliveries)


def replay_one(session: Session, owner_id: int, sub_id: int, delivery_id: int) -> WebhookDelivery:
    """Send it again, with every dead delivery of its task for this subscription: they go
    in order, so one held behind a dead event is never sent without it."""
    owned_subscription(session, owner_id, sub_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != sub_id:
        raise NotFound(f"delivery {delivery_id} of subscription {sub_id} not found")
    dead = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub_id,
            WebhookDelivery.task_id == delivery.task_id,
            WebhookDelivery.status == "dead",
            WebhookDelivery.id != delivery.id,
        )
    ).all()
    _revive(session, [delivery, *dead])
    session.flush()
    return delivery


def replay_range(session: Session, owner_id: int, sub_id: int, body: ReplayRangeIn) -> int:
    owned_subscription(session, owner_id, sub_id)
    chosen = session.scalars(
        select(WebhookDelivery)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.subscription_id == sub_id,
            WebhookDelivery.status.in_(body.statuses),
            OutboxEvent.created_at >= body.since,
            OutboxEvent.created_at < body.until,
        )
        .order_by(WebhookDelivery.event_id)
    ).all()
    # A dead delivery of the same tasks outside the window would hold these back: revived too.
    tasks = {d.task_id for d in chosen}
    held = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub_id,
            WebhookDelivery.task_id.in_(tasks),
            WebhookDelivery.status == "dead",
        )
    ).all()
    return _revive(session, list({d.id: d for d in [*chosen, *held]}.values()))
