"""Follow-up sequences: schedule one, watch it, pause, resume or cancel it."""

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Body, Response, status
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionsDep, SettingsDep
from api.params import WorkflowIdPath
from nudge.core.vocabulary import SequenceAction
from nudge.platform.settings import Settings
from nudge.sequences.control import control_sequence
from nudge.sequences.payloads import SequenceProgress
from nudge.sequences.progress import latest_batch, sequence_progress
from nudge.sequences.schemas import (
    CancelIn,
    ScheduledSequenceOut,
    ScheduleSequenceIn,
    SequenceProgressOut,
)
from nudge.sequences.start import schedule_sequence

router = APIRouter(prefix="/api/task-automation", tags=["sequences"], route_class=JsonBoundaryRoute)

# FastAPI's `responses` parameter is typed dict[int | str, dict[str, Any]].
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown contact or sequence (or another owner's)."},
    409: {"description": "The sequence has already ended."},
    503: {"description": "Temporal or the database is unavailable: send it again later."},
}


def _out(progress: SequenceProgress, settings: Settings) -> SequenceProgressOut:
    return SequenceProgressOut(
        **progress.model_dump(exclude={"planned", "unread_signals", "steps", "migrations"}),
        planned=[p.model_dump() for p in progress.planned],
        unread_signals=[u.model_dump() for u in progress.unread_signals],
        steps=[s.model_dump() for s in progress.steps],
        migrations=[m.model_dump() for m in progress.migrations],
        temporal_ui_url=settings.workflow_url(progress.workflow_id),
    )


@router.post(
    "/schedule-sequence/",
    response_model=ScheduledSequenceOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "That sequence was already running; this is it."}, **ERRORS},
)
async def schedule(
    body: ScheduleSequenceIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    response: Response,
) -> ScheduledSequenceOut:
    """Start a follow-up sequence for a contact: one task per step, each due at its day.
    A preset by `sequence_type`, or any definition (custom or built-in) by `definition_id`.

    Repeating the same request while the sequence runs starts nothing new and answers 200
    with the running sequence."""
    result = await schedule_sequence(
        client,
        sessions,
        task_queue=settings.task_queue,
        owner_id=owner.id,
        contact_id=body.contact_id,
        sequence_type=body.sequence_type,
        start_delay_hours=body.start_delay_hours,
        definition_id=body.definition_id,
    )
    if not result.started:
        response.status_code = status.HTTP_200_OK
    return ScheduledSequenceOut(
        workflow_id=result.workflow_id,
        batch_id=result.batch_id,
        planned=[p.model_dump() for p in result.planned],
        definition_id=result.definition_id,
        version=result.version,
        already_running=not result.started,
        temporal_ui_url=settings.workflow_url(result.workflow_id),
    )


@router.get("/sequences/{workflow_id}/", response_model=SequenceProgressOut, responses=ERRORS)
async def progress(
    workflow_id: WorkflowIdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> SequenceProgressOut:
    """Where a sequence stands: state, steps done, next due time, why it stopped."""
    batch = await to_thread.run_sync(latest_batch, sessions, owner.id, workflow_id)
    return _out(await sequence_progress(client, sessions, batch), settings)


async def _control(
    workflow_id: str,
    action: SequenceAction,
    reason: str | None,
    owner_id: int,
    sessions: sessionmaker[Session],
    client: Client,
    settings: Settings,
) -> SequenceProgressOut:
    batch = await to_thread.run_sync(latest_batch, sessions, owner_id, workflow_id)
    await control_sequence(client, batch, action, reason)
    return _out(await sequence_progress(client, sessions, batch), settings)


@router.post(
    "/sequences/{workflow_id}/pause/", response_model=SequenceProgressOut, responses=ERRORS
)
async def pause(
    workflow_id: WorkflowIdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> SequenceProgressOut:
    """Hold the sequence; no task is created while paused. Pausing twice is harmless."""
    return await _control(workflow_id, "pause", None, owner.id, sessions, client, settings)


@router.post(
    "/sequences/{workflow_id}/resume/", response_model=SequenceProgressOut, responses=ERRORS
)
async def resume(
    workflow_id: WorkflowIdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> SequenceProgressOut:
    """Continue a paused sequence; every remaining step moves later by the time paused."""
    return await _control(workflow_id, "resume", None, owner.id, sessions, client, settings)


@router.post(
    "/sequences/{workflow_id}/cancel/", response_model=SequenceProgressOut, responses=ERRORS
)
async def cancel(
    workflow_id: WorkflowIdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    body: CancelIn | None = Body(None),
) -> SequenceProgressOut:
    """Stop the sequence for good; tasks already created stay. The reason is recorded."""
    reason = body.reason if body else None
    return await _control(workflow_id, "cancel", reason, owner.id, sessions, client, settings)
