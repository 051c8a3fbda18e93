"""Custom sequences: definitions with versioned steps, previews, live edits, and bulk
enrollment (the presets are listed as read-only built-ins)."""

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session, sessionmaker

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep
from api.params import IdPath
from nudge.core.types import Page
from nudge.platform.db import transaction
from nudge.sequences import changes, enroll
from nudge.sequences.definition_schemas import (
    BulkEnrollIn,
    DefinitionChangeOut,
    DefinitionIn,
    DefinitionOut,
    DefinitionPatch,
    DefinitionPreviewIn,
    DefinitionPreviewOut,
    DefinitionPut,
    DraftDefinitionPreviewIn,
    EnrollJobOut,
)
from nudge.sequences.definitions import (
    create_definition,
    definition_out,
    draft_snapshot,
    list_definitions,
    preview,
    snapshot,
    visible_definition,
)

router = APIRouter(
    prefix="/api/task-automation/sequences/definitions",
    tags=["sequence definitions"],
    route_class=JsonBoundaryRoute,
)

# FastAPI's `responses` parameter is typed dict[int | str, dict[str, Any]].
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such definition (or another owner's)."}}
NAME_IN_USE: Responses = {409: {"description": "You already have a definition of that name."}}
READ_ONLY: Responses = {
    409: {"description": "A built-in (read-only), or a name you already use for another."}
}
RUNNING: Responses = {
    409: {
        "description": "A built-in (read-only), or enrollments run it: add "
        "`?cancel_running=true` to cancel them with it."
    }
}
CONTACT: Responses = {
    404: {
        "description": "No such definition, or no such `contact_id` (or another owner's): "
        "the detail names which."
    }
}
JOB: Responses = {
    404: {"description": "No such definition, or no such job of it (or another owner's)."}
}


@router.get("/", response_model=Page[DefinitionOut])
def list_all(owner: OwnerDep, session: SessionDep) -> dict:
    """The built-in presets (read-only, `builtin: true`), then yours."""
    items = [definition_out(session, owner.id, d) for d in list_definitions(session, owner.id)]
    return {"items": items, "total": len(items)}


@router.post(
    "/", response_model=DefinitionOut, status_code=status.HTTP_201_CREATED, responses=NAME_IN_USE
)
def create(body: DefinitionIn, owner: OwnerDep, sessions: SessionsDep) -> DefinitionOut:
    """Steps are checked now: waits, anchors, templates (over contact_name, contact_email,
    due_date, step_number, step_count, sequence_name). A step without an `id` gets one."""
    with transaction(sessions) as session:
        return definition_out(session, owner.id, create_definition(session, owner.id, body))


@router.get("/{definition_id:int}/", response_model=DefinitionOut, responses=NOT_FOUND)
def get_one(definition_id: IdPath, owner: OwnerDep, session: SessionDep) -> DefinitionOut:
    return definition_out(session, owner.id, visible_definition(session, owner.id, definition_id))


@router.put(
    "/{definition_id:int}/",
    response_model=DefinitionChangeOut,
    responses={**NOT_FOUND, **READ_ONLY},
)
async def replace(
    definition_id: IdPath,
    body: DefinitionPut,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
) -> DefinitionChangeOut:
    """Replace it. New steps or exit conditions make a new version; `apply_to_running`
    says whether running enrollments keep theirs (none) or adopt the new steps they have
    not created yet (future_steps, matched by step id)."""
    return await changes.change(
        client, sessions, owner.id, definition_id, body, body.apply_to_running
    )


@router.patch(
    "/{definition_id:int}/",
    response_model=DefinitionChangeOut,
    responses={**NOT_FOUND, **READ_ONLY},
)
async def amend(
    definition_id: IdPath,
    body: DefinitionPatch,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
) -> DefinitionChangeOut:
    """Change the fields given; as PUT for the version and `apply_to_running`."""
    return await changes.change(
        client, sessions, owner.id, definition_id, body, body.apply_to_running
    )


@router.delete(
    "/{definition_id:int}/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **RUNNING},
)
async def remove(
    definition_id: IdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    cancel_running: Annotated[
        bool, Query(description="Cancel its running enrollments too (their tasks stay).")
    ] = False,
) -> Response:
    """Delete it. While enrollments run it this is a 409, unless `cancel_running=true`."""
    await changes.remove(client, sessions, owner.id, definition_id, cancel_running)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/preview/",
    response_model=DefinitionPreviewOut,
    responses={404: {"description": "No such `contact_id` (or another owner's)."}},
)
def preview_draft(
    body: DraftDefinitionPreviewIn, owner: OwnerDep, session: SessionDep
) -> DefinitionPreviewOut:
    """An unsaved definition's steps for a contact, as they would be written."""
    snap = draft_snapshot(body.definition)
    return preview(session, owner.id, body.contact_id, snap, body.start_at)


@router.post(
    "/{definition_id:int}/preview/", response_model=DefinitionPreviewOut, responses=CONTACT
)
def preview_saved(
    definition_id: IdPath, body: DefinitionPreviewIn, owner: OwnerDep, session: SessionDep
) -> DefinitionPreviewOut:
    """Every step's title, kind, due and reminder time for a contact; writes nothing."""
    snap = snapshot(session, visible_definition(session, owner.id, definition_id))
    return preview(session, owner.id, body.contact_id, snap, body.start_at)


def _report(
    sessions: sessionmaker[Session], owner_id: int, definition_id: int, job_id: int
) -> dict:
    with sessions() as session:
        return enroll.job_report(session, owner_id, definition_id, job_id)


def _job_out(report: dict, settings: Any) -> EnrollJobOut:
    return EnrollJobOut(**report, temporal_ui_url=settings.workflow_url(report["workflow_id"]))


@router.post(
    "/{definition_id:int}/enroll/",
    response_model=EnrollJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
async def enroll_many(
    definition_id: IdPath,
    body: BulkEnrollIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> EnrollJobOut:
    """Enroll up to 10,000 contacts (or every contact matching a filter) as a background
    job; follow it at the `enroll-jobs` URL. Contacts already enrolled are counted, not
    enrolled twice, so sending the same request again enrolls nobody twice. With a
    `daily_enrollment_limit` on your account, the rest wait for the next days, in order."""
    job_id = await enroll.start_job(
        client, sessions, settings.task_queue, owner.id, definition_id, body
    )
    report = await to_thread.run_sync(_report, sessions, owner.id, definition_id, job_id)
    return _job_out(report, settings)


@router.get(
    "/{definition_id:int}/enroll-jobs/{job_id:int}/", response_model=EnrollJobOut, responses=JOB
)
def enroll_job(
    definition_id: IdPath,
    job_id: IdPath,
    owner: OwnerDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> EnrollJobOut:
    """A bulk enrollment: enrolled, already enrolled, skipped (with why), failed, pending."""
    return _job_out(_report(sessions, owner.id, definition_id, job_id), settings)
