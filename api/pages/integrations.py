"""The integrations page: the owner's CRM connections (their inbound URL, what came in and
what was refused) and task event subscriptions (delivery health, the latest deliveries, and a
button to send the dead ones again). Read-only otherwise: the API makes and changes them."""

from datetime import timedelta
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionsDep
from api.pages.render import render
from api.pages.session import BASE, PageDep, PostDep
from api.params import MAX_ID, IdPath
from nudge.core.models import Integration, WebhookDelivery, utcnow
from nudge.integrations.service import integration_out
from nudge.integrations.subscription_schemas import DeliveryOut, ReplayRangeIn
from nudge.integrations.subscriptions import list_subscriptions, replay_range
from nudge.platform.db import transaction

router = APIRouter(prefix=f"{BASE}/integrations", tags=["web page"])
DELIVERIES_SHOWN = 20
REPLAY_WINDOW = timedelta(days=30)


def integrations_card(session: Session, owner_id: int) -> dict[str, Any]:
    """The integrations in a few words for the dashboard."""
    rows = list(session.scalars(select(Integration).where(Integration.owner_id == owner_id)))
    subs = list_subscriptions(session, owner_id)
    return {
        "connections": len(rows),
        "refused": sum(r.refused for r in rows),
        "subscriptions": len(subs),
        "dead": sum(s.health.dead for s in subs),
    }


def _read(session: Session, owner_id: int, base_url: str) -> dict[str, Any]:
    rows = session.scalars(
        select(Integration).where(Integration.owner_id == owner_id).order_by(Integration.id)
    )
    subs = list_subscriptions(session, owner_id)
    latest = {
        s.id: [
            DeliveryOut.model_validate(d)
            for d in session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == s.id)
                .order_by(WebhookDelivery.id.desc())
                .limit(DELIVERIES_SHOWN)
            )
        ]
        for s in subs
    }
    return {
        "connections": [integration_out(r, base_url) for r in rows],
        "subscriptions": subs,
        "deliveries": latest,
    }


def _notice(replayed: int | None) -> str | None:
    if replayed is None:
        return None
    if replayed == 0:
        return "No dead deliveries in the last 30 days: nothing to send again."
    one = replayed == 1
    return f"{replayed} deliver{'y' if one else 'ies'} will be sent again."


@router.get("", response_class=HTMLResponse, summary="Your CRM connections and subscriptions")
async def integrations_page(
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    replayed: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Deliveries the last replay revived.")
    ] = None,
) -> HTMLResponse:
    def read() -> dict[str, Any]:
        with sessions() as session:
            return _read(session, page.owner.id, str(request.base_url))

    data = await to_thread.run_sync(read)
    context = {**data, "page": page, "notice": _notice(replayed), "shown": DELIVERIES_SHOWN}
    return render(request, "integrations.html", context)


@router.post("/subscriptions/{subscription_id}/replay", summary="Send the dead ones again")
async def replay_dead(
    subscription_id: IdPath, page: PostDep, sessions: SessionsDep
) -> RedirectResponse:
    """The subscription's dead deliveries of events written in the last 30 days go back to
    pending; the commit starts their delivery workflows. Another owner's: 404."""

    def write() -> int:
        now = utcnow()
        body = ReplayRangeIn(since=now - REPLAY_WINDOW, until=now + timedelta(minutes=1))
        with transaction(sessions) as session:
            return replay_range(session, page.owner.id, subscription_id, body)

    replayed = await to_thread.run_sync(write)
    return RedirectResponse(
        f"{BASE}/integrations?replayed={replayed}#subscription-{subscription_id}", 303
    )
