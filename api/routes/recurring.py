"""Recurring check-ins per contact: daily, weekly, biweekly, monthly or quarterly."""

from anyio import to_thread
from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionsDep, SettingsDep
from api.params import IdPath
from nudge.calendar.placing import local
from nudge.core.errors import NotFound
from nudge.platform.settings import Settings
from nudge.recurring.payloads import RecurringProgress, TaskTemplate
from nudge.recurring.schemas import RecurringOut, ScheduleRecurringIn
from nudge.recurring.service import (
    recurring_progress,
    schedule_recurring,
    stop_recurring,
    zones,
)

router = APIRouter(prefix="/api/task-automation", tags=["recurring"], route_class=JsonBoundaryRoute)


async def _out(
    progress: RecurringProgress,
    owner_id: int,
    contact_id: int,
    settings: Settings,
    sessions: sessionmaker[Session],
) -> RecurringOut:
    """The check-ins, the next one also in your calendar's zone and the contact's."""
    owner_zone, contact_zone = await to_thread.run_sync(zones, sessions, owner_id, contact_id)
    due = progress.next_due_at
    return RecurringOut(
        workflow_id=progress.workflow_id,
        contact_id=contact_id,
        cadence=progress.cadence,
        state=progress.state,
        next_due_at=due,
        stop_reason=progress.stop_reason,
        placement=progress.placement,
        placement_reason=progress.placement_reason,
        due_local=local(due, owner_zone) if due else None,
        due_contact_local=local(due, contact_zone) if due and contact_zone else None,
        temporal_ui_url=settings.workflow_url(progress.workflow_id),
    )


@router.post(
    "/schedule-recurring/",
    response_model=RecurringOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": RecurringOut,
            "description": "The contact's check-ins were already running; they now follow "
            "this body (a repeat of the same body changes nothing).",
        },
        404: {},
        503: {},
    },
)
async def schedule(
    body: ScheduleRecurringIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    response: Response,
) -> RecurringOut:
    """Start the contact's check-ins (201), or reshape running ones (200): a new cadence counts
    from now. Sending the same body again changes nothing. The first task is due one period
    from now, moved by `placement` into your calendar's (or the contact's) hours; the answer
    shows where and why."""
    if await _running(client, owner.id, body.contact_id):
        response.status_code = status.HTTP_200_OK
    progress = await schedule_recurring(
        client,
        sessions,
        settings.task_queue,
        owner.id,
        body.contact_id,
        body.cadence,
        TaskTemplate(**body.task_template.model_dump()),
        body.placement,
    )
    return await _out(progress, owner.id, body.contact_id, settings, sessions)


async def _running(client: Client, owner_id: int, contact_id: int) -> bool:
    try:
        return (await recurring_progress(client, owner_id, contact_id)).state != "stopped"
    except NotFound:
        return False


@router.get(
    "/recurring/{contact_id}/",
    response_model=RecurringOut,
    responses={
        404: {
            "description": "No check-ins run for the contact: never started, or stopped "
            "(the detail says why), or another owner's contact."
        }
    },
)
async def progress(
    contact_id: IdPath,
    owner: OwnerDep,
    client: ClientDep,
    settings: SettingsDep,
    sessions: SessionsDep,
) -> RecurringOut:
    """The contact's running check-ins. Stopped ones are gone, as after DELETE: 404 naming why,
    and schedule-recurring starts them anew (201)."""
    found = await recurring_progress(client, owner.id, contact_id)
    if found.state == "stopped":  # POST answers 201 then: the check-ins no longer exist
        raise NotFound(
            f"contact {contact_id}'s recurring check-ins stopped ({found.stop_reason}); start "
            "them again with POST /api/task-automation/schedule-recurring/"
        )
    return await _out(found, owner.id, contact_id, settings, sessions)


@router.delete("/recurring/{contact_id}/", status_code=204, responses={404: {}})
async def stop(
    contact_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Response:
    """Stop the check-ins and clear the contact's cadence; GET then answers 404 naming why.
    Tasks already made stay. Stopping stopped check-ins is 204 too."""
    await stop_recurring(client, sessions, owner.id, contact_id, "stopped through the API")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
