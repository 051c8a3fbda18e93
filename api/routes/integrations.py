"""CRM connections (CRUD and a dry run) and the URL each CRM posts its webhooks to."""

from functools import partial
from typing import Any, Final

from anyio import to_thread
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.boundary import MAX_BODY_BYTES, JsonBoundaryRoute, capped_body, parse_json
from api.deps import OwnerDep, SessionDep, SessionsDep, SettingsDep, app_client, app_unstarted
from api.params import IdPath, Limit, Offset
from nudge.core.models import utcnow
from nudge.core.types import Page
from nudge.core.vocabulary import Provider
from nudge.integrations.inbound import Delivery, process_rows, receive
from nudge.integrations.providers import Malformed, Refused
from nudge.integrations.schemas import (
    InboundOut,
    IntegrationIn,
    IntegrationOut,
    IntegrationPatch,
    TestIn,
    TestOut,
)
from nudge.integrations.service import (
    create_integration,
    delete_integration,
    dry_run,
    integration_out,
    list_integrations,
    owned_integration,
    patch_integration,
    replace_integration,
)

router = APIRouter(tags=["integrations"], route_class=JsonBoundaryRoute)

BASE: Final = "/api/integrations/"
ONE: Final = BASE + "{integration_id}/"
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {}}


@router.post(BASE, response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
def create(
    body: IntegrationIn, owner: OwnerDep, session: SessionDep, request: Request
) -> IntegrationOut:
    """Connect a CRM: paste the answer's `inbound_url` into it as the webhook target. A
    `standard` connection's secret is base64 (optionally `whsec_`-prefixed)."""
    row = create_integration(session, owner.id, body)
    return integration_out(row, str(request.base_url))


@router.get(BASE, response_model=Page[IntegrationOut])
def list_all(
    owner: OwnerDep, session: SessionDep, request: Request, limit: Limit = 50, offset: Offset = 0
) -> dict:
    rows, total = list_integrations(session, owner.id, limit, offset)
    base = str(request.base_url)
    return {"items": [integration_out(row, base) for row in rows], "total": total}


@router.get(ONE, response_model=IntegrationOut, responses=NOT_YOURS)
def read(
    integration_id: IdPath, owner: OwnerDep, session: SessionDep, request: Request
) -> IntegrationOut:
    """With its counters: deliveries received and refused, and why the last was refused."""
    row = owned_integration(session, owner.id, integration_id)
    return integration_out(row, str(request.base_url))


@router.put(ONE, response_model=IntegrationOut, responses=NOT_YOURS)
def replace(
    integration_id: IdPath,
    body: IntegrationIn,
    owner: OwnerDep,
    session: SessionDep,
    request: Request,
) -> IntegrationOut:
    """Replace its settings (the counters stay). A `standard` connection's secret is base64
    (optionally `whsec_`-prefixed)."""
    row = replace_integration(session, owner.id, integration_id, body)
    return integration_out(row, str(request.base_url))


@router.patch(ONE, response_model=IntegrationOut, responses=NOT_YOURS)
def change(
    integration_id: IdPath,
    body: IntegrationPatch,
    owner: OwnerDep,
    session: SessionDep,
    request: Request,
) -> IntegrationOut:
    """Change some fields; the result is checked as PUT checks it (a `standard` connection's
    secret is base64, optionally `whsec_`-prefixed)."""
    try:
        row = patch_integration(
            session, owner.id, integration_id, body.model_dump(exclude_unset=True)
        )
    except ValidationError as err:
        raise RequestValidationError(err.errors()) from None
    return integration_out(row, str(request.base_url))


@router.delete(ONE, status_code=status.HTTP_204_NO_CONTENT, responses=NOT_YOURS)
def delete(integration_id: IdPath, owner: OwnerDep, session: SessionDep) -> Response:
    """Disconnect: its URL answers 404 from now on. Contacts and events it brought stay."""
    delete_integration(session, owner.id, integration_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(ONE + "test/", response_model=TestOut, responses=NOT_YOURS)
def test(integration_id: IdPath, body: TestIn, owner: OwnerDep, session: SessionDep) -> TestOut:
    """What Nudge would do with a payload as the CRM sends it (unsigned): per event, the
    contact (existing, or created), the status change or activity, the rules that would fire
    and what would be ignored and why. Writes nothing, starts nothing."""
    row = owned_integration(session, owner.id, integration_id)
    try:
        return dry_run(session, owner.id, row, body.payload)
    except Malformed as err:
        raise _field_error(err) from None


def _field_error(err: Malformed) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *err.loc), "msg": err.problem, "input": None}]
    )


INBOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Refused: the signature doesn't match the connection's secret, a "
        "signature header is missing, or the timestamp is more than 5 minutes off (a replay). "
        "Counted on the connection (`refused`, `last_refusal`); nothing else is written."
    },
    404: {"description": "No such connection, or it is another provider's."},
    409: {
        "description": "Every event of this delivery was received before (a replay or a "
        "redelivery): nothing is written but the refusal's count."
    },
    413: {"description": f"The request body is over {MAX_BODY_BYTES} bytes (1 MiB)."},
    422: {
        "description": "A signed body that isn't what the provider sends: `errors` names the "
        "field. Nothing is stored; the refusal is counted."
    },
}
INBOUND_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "The provider's own webhook body, unchanged: HubSpot's array of "
        "events, Twenty's event, or a Standard Webhooks message "
        '(`{"type": "contact.created" | "contact.updated" | "activity.created", "data": …}`).',
        "content": {"application/json": {"schema": {}}},
    }
}


@router.post(
    "/api/inbound/{provider}/{integration_id}/",
    response_model=InboundOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=INBOUND_RESPONSES,
    openapi_extra=INBOUND_BODY,
)
async def inbound(
    provider: Provider,
    integration_id: IdPath,
    request: Request,
    background: BackgroundTasks,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> InboundOut:
    """Where a CRM posts its webhooks (a connection's `inbound_url`). No API key: each
    delivery is verified by the provider's own signature with the connection's secret —
    HubSpot `X-HubSpot-Signature-v3` (over the method, the URL as HubSpot called it, the body
    and `X-HubSpot-Request-Timestamp`), Twenty `X-Twenty-Webhook-Signature`, Standard Webhooks
    `webhook-id`/`webhook-timestamp`/`webhook-signature` — within 5 minutes. Its new events
    are stored in one transaction and applied right after the answer, each once: a contact
    upsert by the CRM's record id, a status change or an activity. Behind a proxy, the URL
    Nudge sees (scheme and host) must be the one the CRM calls, for HubSpot's signature."""
    body = await capped_body(request)
    delivery = Delivery(request.method, str(request.url), dict(request.headers), body)
    take = partial(receive, decode=parse_json, now=utcnow())
    try:
        receipt = await to_thread.run_sync(take, sessions, provider, integration_id, delivery)
    except Refused as err:
        if err.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        challenge = f'Signature realm="{provider}"'
        raise HTTPException(
            err.status_code, err.message, headers={"WWW-Authenticate": challenge}
        ) from None
    except Malformed as err:
        raise _field_error(err) from None
    if receipt.row_ids:
        background.add_task(
            process_rows,
            app_client(request),
            sessions,
            settings.task_queue,
            receipt.row_ids,
            app_unstarted(request),
        )
    return InboundOut(accepted=len(receipt.row_ids), duplicates=receipt.duplicates)
