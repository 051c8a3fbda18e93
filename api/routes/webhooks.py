"""Task events out: subscriptions (signed the Standard Webhooks way), their deliveries, and
replaying them."""

from fastapi import APIRouter, Response, status

from api.boundary import JsonBoundaryRoute
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.params import IdPath, Limit, Offset
from nudge.core.errors import Unprocessable
from nudge.core.models import WebhookDelivery
from nudge.core.types import Page
from nudge.core.vocabulary import DeliveryStatus
from nudge.integrations.subscription_schemas import (
    DeliveryOut,
    ReplayOut,
    ReplayRangeIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from nudge.integrations.subscriptions import (
    change_subscription,
    create_subscription,
    list_subscriptions,
    owned_subscription,
    replay_one,
    replay_range,
    subscription_out,
)
from nudge.platform.listing import equal_to, page
from nudge.reminders.webhooks import internal_target

router = APIRouter(
    prefix="/api/webhooks/subscriptions", tags=["webhooks"], route_class=JsonBoundaryRoute
)


def _reachable(url: str | None, settings: SettingsDep) -> None:
    """The check every delivery runs, names resolved too (one that doesn't resolve yet is
    accepted: delivery checks again)."""
    if url:
        why = internal_target(url, resolve=True, allow_private=settings.webhook_allow_private)
        if why:
            raise Unprocessable(f"url: {why}; webhooks go to public hosts")


@router.post("/", response_model=SubscriptionCreated, status_code=status.HTTP_201_CREATED)
def create(
    body: SubscriptionIn, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> SubscriptionCreated:
    """Send these task events to `url`. Each POST has the body `{"type", "timestamp",
    "data": <the task as GET /api/tasks/{id}/ shows it>}` and the Standard Webhooks headers
    `webhook-id` (the same for every attempt of one event), `webhook-timestamp` and
    `webhook-signature`, made with the `secret` answered here, once. A task's events arrive in
    order; a failed delivery is retried with exponential backoff for three days, then dead
    until replayed."""
    _reachable(body.url, settings)
    out = create_subscription(session, owner.id, body)
    session.commit()
    return out


@router.get("/", response_model=list[SubscriptionOut])
def list_all(owner: OwnerDep, session: SessionDep) -> list[SubscriptionOut]:
    """Your subscriptions, with their deliveries by status (pending, retrying, delivered,
    dead)."""
    return list_subscriptions(session, owner.id)


@router.get("/{subscription_id}/", response_model=SubscriptionOut, responses={404: {}})
def read(subscription_id: IdPath, owner: OwnerDep, session: SessionDep) -> SubscriptionOut:
    return subscription_out(session, owned_subscription(session, owner.id, subscription_id))


@router.patch("/{subscription_id}/", response_model=SubscriptionOut, responses={404: {}})
def change(
    subscription_id: IdPath,
    body: SubscriptionPatch,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
) -> SubscriptionOut:
    """A new URL or event types; events written from now on follow them."""
    _reachable(body.url, settings)
    out = change_subscription(session, owner.id, subscription_id, body)
    session.commit()
    return out


@router.delete("/{subscription_id}/", status_code=204, responses={404: {}})
def delete(subscription_id: IdPath, owner: OwnerDep, session: SessionDep) -> Response:
    """Stop sending; its deliveries (sent or not) are deleted with it."""
    session.delete(owned_subscription(session, owner.id, subscription_id))
    session.commit()
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries/", response_model=Page[DeliveryOut], responses={404: {}})
def deliveries(
    subscription_id: IdPath,
    owner: OwnerDep,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Its deliveries, newest first: attempts, the last answer's status code or error, and
    when the next retry is due."""
    owned_subscription(session, owner.id, subscription_id)
    where = [WebhookDelivery.subscription_id == subscription_id]
    where += equal_to(WebhookDelivery, status=status)
    items, total = page(session, WebhookDelivery, where, [WebhookDelivery.id.desc()], limit, offset)
    return {"items": items, "total": total}


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/replay/",
    response_model=DeliveryOut,
    responses={404: {}},
)
def replay(
    subscription_id: IdPath, delivery_id: IdPath, owner: OwnerDep, session: SessionDep
) -> WebhookDelivery:
    """Send it again, from a first attempt (a dead one after its receiver is back; a
    delivered one on purpose). Its `webhook-id` is the same as before."""
    delivery = replay_one(session, owner.id, subscription_id, delivery_id)
    session.commit()
    return delivery


@router.post("/{subscription_id}/deliveries/replay/", response_model=ReplayOut, responses={404: {}})
def replay_many(
    subscription_id: IdPath, body: ReplayRangeIn, owner: OwnerDep, session: SessionDep
) -> ReplayOut:
    """Send again every delivery of the events written in [since, until) with these statuses
    (default: the dead ones), in their order."""
    replayed = replay_range(session, owner.id, subscription_id, body)
    session.commit()
    return ReplayOut(replayed=replayed)
