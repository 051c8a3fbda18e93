"""The sequence pages: the step editor (new, copy of a built-in, edit) with a live timeline
preview and, for a definition that runs, what saving does to its running enrollments; and a
saved definition's timeline for a contact."""

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientDep, SessionsDep
from api.pages.definition_form import (
    CHOICES,
    Consequence,
    DefinitionForm,
    as_patch,
    consequence,
)
from api.pages.forms import chosen_id, owner_contacts
from api.pages.render import render
from api.pages.session import BASE, PageDep, PageSession, PostDep
from api.params import IdPath, OptionalId
from nudge.core.errors import Conflict, NudgeError
from nudge.platform.db import transaction
from nudge.sequences import changes
from nudge.sequences.definition_schemas import DefinitionOut, DefinitionPreviewOut
from nudge.sequences.definitions import (
    create_definition,
    definition_out,
    draft_snapshot,
    editable_definition,
    preview,
    snapshot,
    visible_definition,
)

router = APIRouter(prefix=f"{BASE}/sequences", tags=["web page"])
OpForm = Annotated[str, Form(description="The editor button pressed: add, remove-N, up-N, down-N.")]


def _shown(sessions: SessionsDep, owner_id: int, definition_id: int, edit: bool) -> DefinitionOut:
    """The definition as the page shows it: one the owner may see, or (`edit`) change."""
    find = editable_definition if edit else visible_definition
    with sessions() as session:
        return definition_out(session, owner_id, find(session, owner_id, definition_id))


async def _load(
    sessions: SessionsDep, owner_id: int, definition_id: int, edit: bool = True
) -> DefinitionOut:
    return await to_thread.run_sync(_shown, sessions, owner_id, definition_id, edit)


def _consequence(editing: DefinitionOut, form: DefinitionForm) -> Consequence:
    current = [s.model_dump() for s in editing.steps]
    return consequence(
        editing.running_enrollments, editing.version, current, form.draft(), editing.exit_on
    )


async def _editor(
    request: Request,
    page: PageSession,
    sessions: SessionsDep,
    form: DefinitionForm,
    editing: DefinitionOut | None,
    status_code: int = 200,
) -> HTMLResponse:
    contacts = await to_thread.run_sync(owner_contacts, sessions, page.owner.id)
    form.show_exits(editing)
    context: dict[str, Any] = {
        "page": page,
        "form": form,
        "definition": editing,
        "choices": CHOICES,
        "contacts": contacts,
        "consequence": _consequence(editing, form) if editing else None,
    }
    return render(request, "definition_form.html", context, status_code)


@router.get("/new", response_class=HTMLResponse, summary="Step editor: a new sequence")
async def new_definition(
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    copy: Annotated[OptionalId, Query(description="Start from this definition's steps.")] = None,
) -> HTMLResponse:
    form = DefinitionForm.blank()
    if copy is not None:
        source = await _load(sessions, page.owner.id, copy, edit=False)
        form = DefinitionForm.from_definition(source, name=f"Copy of {source.name}")
    return await _editor(request, page, sessions, form, None)


@router.post("/new", response_class=HTMLResponse, summary="Step editor: add, remove or move")
async def new_definition_op(
    request: Request, page: PostDep, sessions: SessionsDep, op: OpForm = ""
) -> HTMLResponse:
    """A step added, removed or moved in the unsaved form; nothing is checked or saved."""
    form = DefinitionForm.from_post(await request.form())
    form.apply_op(op)
    return await _editor(request, page, sessions, form, None)


@router.post("", response_class=HTMLResponse, summary="Create a sequence from the editor")
async def create(request: Request, page: PostDep, sessions: SessionsDep) -> Response:
    """Checked exactly as the API checks it; any problem comes back beside its field and
    nothing is saved."""
    form = DefinitionForm.from_post(await request.form())
    body = form.checked()
    if body is not None:

        def write() -> int:
            with transaction(sessions) as session:
                return create_definition(session, page.owner.id, body).id

        try:
            created = await to_thread.run_sync(write)
        except Conflict as err:  # the name is taken: say so beside it
            form.errors["name"] = err.message
        else:
            target = f"{BASE}?done=sequence-created&definition={created}#definitions"
            return RedirectResponse(target, 303)
    return await _editor(request, page, sessions, form, None, 422)


@router.post("/preview", response_class=HTMLResponse, summary="Timeline preview (fragment)")
async def draft_preview(request: Request, page: PostDep, sessions: SessionsDep) -> HTMLResponse:
    """The editor's steps for the chosen contact, by the same code as the draft preview
    endpoint (so exactly what the workflow writes); for a definition being edited, also what
    saving would do to its running enrollments (swapped in out of band)."""
    posted = await request.form()
    form = DefinitionForm.from_post(posted)
    body = form.checked()
    editing_id = chosen_id(str(posted.get("definition_id", "")))
    context: dict[str, Any] = {"form": form, "timeline": None, "problem": None}
    if editing_id is not None:
        editing = await _load(sessions, page.owner.id, editing_id)
        context["consequence"] = _consequence(editing, form)
    contact = chosen_id(form.values["contact_id"])
    if body is not None and contact is None:
        context["problem"] = "choose a contact to preview against"
    elif body is not None and contact is not None:

        def run() -> DefinitionPreviewOut:
            with sessions() as session:
                return preview(session, page.owner.id, contact, draft_snapshot(body), None)

        try:
            context["timeline"] = await to_thread.run_sync(run)
        except NudgeError as err:
            context["problem"] = err.message
    return render(request, "_timeline.html", context)


@router.get("/{definition_id}/edit", response_class=HTMLResponse, summary="Step editor: edit")
async def edit_definition(
    definition_id: IdPath, request: Request, page: PageDep, sessions: SessionsDep
) -> HTMLResponse:
    editing = await _load(sessions, page.owner.id, definition_id)
    return await _editor(request, page, sessions, DefinitionForm.from_definition(editing), editing)


@router.post(
    "/{definition_id}/edit", response_class=HTMLResponse, summary="Step editor: add, remove, move"
)
async def edit_definition_op(
    definition_id: IdPath,
    request: Request,
    page: PostDep,
    sessions: SessionsDep,
    op: OpForm = "",
) -> HTMLResponse:
    editing = await _load(sessions, page.owner.id, definition_id)
    form = DefinitionForm.from_post(await request.form())
    form.apply_op(op)
    return await _editor(request, page, sessions, form, editing)


@router.post("/{definition_id}", response_class=HTMLResponse, summary="Save an edited sequence")
async def update(
    definition_id: IdPath,
    request: Request,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
) -> Response:
    """A new version when the steps or the exit conditions changed; with
    apply_to_running=future_steps, its running enrollments adopt the new steps they have not
    created yet, and the new exit conditions (the notice says how many)."""
    editing = await _load(sessions, page.owner.id, definition_id)
    form = DefinitionForm.from_post(await request.form())
    body = form.checked()
    if body is not None:
        apply = form.values["apply"]
        patch = as_patch(body, apply, editing.exit_on)
        try:
            out = await changes.change(client, sessions, page.owner.id, definition_id, patch, apply)
        except Conflict as err:  # the new name is taken
            form.errors["name"] = err.message
        else:
            target = f"{BASE}?done=sequence-saved&definition={out.id}&version={out.version}"
            if apply == "future_steps":
                target += f"&migrated={out.migrated}"
            return RedirectResponse(target + "#definitions", 303)
    return await _editor(request, page, sessions, form, editing, 422)


@router.get(
    "/{definition_id}/preview", response_class=HTMLResponse, summary="A sequence's timeline"
)
async def saved_preview(
    definition_id: IdPath,
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    contact_id: Annotated[OptionalId, Query(description="The contact to preview for.")] = None,
) -> HTMLResponse:
    """Every step's title, kind and due time for a contact if it were enrolled now (built-ins
    too); writes nothing."""
    contacts = await to_thread.run_sync(owner_contacts, sessions, page.owner.id)
    chosen = contact_id if contact_id is not None else (contacts[0][0] if contacts else None)

    def read() -> tuple[DefinitionOut, DefinitionPreviewOut | None, str | None]:
        with sessions() as session:
            definition = visible_definition(session, page.owner.id, definition_id)
            out = definition_out(session, page.owner.id, definition)
            if chosen is None:
                return out, None, "add a contact to preview against"
            try:
                snap = snapshot(session, definition)
                return out, preview(session, page.owner.id, chosen, snap, None), None
            except NudgeError as err:
                return out, None, err.message

    definition, timeline, problem = await to_thread.run_sync(read)
    context = {
        "page": page,
        "definition": definition,
        "timeline": timeline,
        "problem": problem,
        "contacts": contacts,
        "chosen": chosen,
    }
    return render(request, "definition_preview.html", context)
