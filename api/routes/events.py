"""CRM events in: activities and status changes, each stored once per `event_id`."""

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionsDep, SettingsDep, UnstartedDep
from nudge.platform.settings import Settings
from nudge.rules.events import EventResult, EventSpec, Unstarted, receive_event
from nudge.rules.schemas import ActivityEventIn, EventOut, StatusChangeIn

router = APIRouter(prefix="/api/events", tags=["events"], route_class=JsonBoundaryRoute)

# FastAPI's `responses` parameter is typed dict[int | str, dict[str, Any]].
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "This event_id was received before; the original result."},
    404: {"description": "Unknown contact (or another owner's)."},
    503: {
        "description": "Temporal or the database is unreachable. When Temporal is, the event "
        "was stored and Nudge starts it by itself once Temporal is back; re-sending is safe."
    },
}


def event_out(result: EventResult) -> EventOut:
    return EventOut(
        event_id=result.event_id,
        contact_id=result.contact_id,
        kind=result.kind,
        duplicate=result.duplicate,
        firings=result.firings,
        sequences_signalled=result.sequences_signalled,
    )


async def _receive(
    spec: EventSpec,
    owner_id: int,
    sessions: sessionmaker[Session],
    client: Client,
    settings: Settings,
    unstarted: Unstarted,
    response: Response,
) -> EventOut:
    result = await receive_event(client, sessions, settings.task_queue, owner_id, spec, unstarted)
    assert result is not None  # only PATCH asks for "only if changed"
    if result.duplicate:
        response.status_code = status.HTTP_200_OK
    return event_out(result)


@router.post("/activities/", response_model=EventOut, status_code=201, responses=RESPONSES)
async def activity(
    body: ActivityEventIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    unstarted: UnstartedDep,
    response: Response,
) -> EventOut:
    """A contact engaged (opened, clicked, replied, booked …): fire matching `activity` rules
    and tell the contact's running sequences (a reply or a booking ends them)."""
    spec = EventSpec(
        event_id=body.event_id,
        kind="activity",
        contact_id=body.contact_id,
        contact_external_id=body.contact_external_id,
        activity_type=body.activity_type,
        occurred_at=body.occurred_at,
    )
    return await _receive(spec, owner.id, sessions, client, settings, unstarted, response)


@router.post("/status-changes/", response_model=EventOut, status_code=201, responses=RESPONSES)
async def status_change(
    body: StatusChangeIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    unstarted: UnstartedDep,
    response: Response,
) -> EventOut:
    """A contact's status changed: update it, fire matching `status_change` rules, and tell
    its running sequences (active or lost ends them)."""
    spec = EventSpec(
        event_id=body.event_id,
        kind="status_change",
        contact_id=body.contact_id,
        contact_external_id=body.contact_external_id,
        old_status=body.old_status,
        new_status=body.new_status,
        occurred_at=body.occurred_at,
    )
    return await _receive(spec, owner.id, sessions, client, settings, unstarted, response)
