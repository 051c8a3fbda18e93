"""The rule pages: create and edit (with a live preview), activate, delete, firing history."""

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import ClientDep, SessionsDep, SettingsDep
from api.pages.forms import chosen_id, owner_contacts
from api.pages.render import render
from api.pages.rule_form import CHOICES, TRIGGERS, RuleForm
from api.pages.session import BASE, PageDep, PageSession, PostDep
from api.params import IdPath, Offset
from nudge.contacts.lookup import contact_names
from nudge.core.errors import NudgeError, Unprocessable
from nudge.core.models import Rule
from nudge.rules.schemas import RuleIn
from nudge.rules.service import (
    changing,
    creating,
    delete_rule,
    draft,
    firing_page,
    merged,
    owned_rule,
    preview_task,
    save_rule,
)

router = APIRouter(prefix=f"{BASE}/rules", tags=["web page"])
FIRINGS_PER_PAGE = 25


async def _load(sessions: SessionsDep, owner_id: int, rule_id: int) -> Rule:
    def load() -> Rule:
        with sessions() as session:
            return owned_rule(session, owner_id, rule_id)

    return await to_thread.run_sync(load)


async def _form_page(
    request: Request,
    page: PageSession,
    sessions: SessionsDep,
    form: RuleForm,
    rule_id: int | None,
    status_code: int = 200,
) -> HTMLResponse:
    contacts = await to_thread.run_sync(owner_contacts, sessions, page.owner.id)
    context: dict[str, Any] = {
        "page": page,
        "form": form,
        "rule_id": rule_id,
        "triggers": TRIGGERS,
        "choices": CHOICES,
        "contacts": contacts,
    }
    return render(request, "rule_form.html", context, status_code)


@router.get("/new", response_class=HTMLResponse, summary="Form: a new rule")
async def new_rule(request: Request, page: PageDep, sessions: SessionsDep) -> HTMLResponse:
    return await _form_page(request, page, sessions, RuleForm.blank(), None)


@router.get("/{rule_id}/edit", response_class=HTMLResponse, summary="Form: edit a rule")
async def edit_rule(
    rule_id: IdPath, request: Request, page: PageDep, sessions: SessionsDep
) -> HTMLResponse:
    rule = await _load(sessions, page.owner.id, rule_id)
    return await _form_page(request, page, sessions, RuleForm.from_rule(rule), rule_id)


async def _save(
    request: Request,
    page: PageSession,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    rule_id: int | None,
) -> Response:
    form = RuleForm.from_post(await request.form())
    body = form.checked()
    if body is not None:
        write = (
            creating(page.owner.id, body)
            if rule_id is None
            else changing(page.owner.id, rule_id, lambda _: body)
        )
        try:
            saved = await save_rule(write, sessions, client, settings)
        except Unprocessable as err:  # the trigger's time has passed: say so beside it
            form.errors["trigger_config"] = err.message
        else:
            done = "rule-created" if rule_id is None else "rule-saved"
            return RedirectResponse(f"{BASE}?done={done}&rule={saved.id}#rules", 303)
    return await _form_page(request, page, sessions, form, rule_id, 422)


@router.post("", response_class=HTMLResponse, summary="Create a rule from the form")
async def create(
    request: Request,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> Response:
    """Checked exactly as the API checks it; problems come back inline, beside their field."""
    return await _save(request, page, sessions, client, settings, None)


@router.post("/preview", response_class=HTMLResponse, summary="Live preview (fragment)")
async def preview(request: Request, page: PostDep, sessions: SessionsDep) -> HTMLResponse:
    """The task the rule in the form would make for the chosen contact, rendered by the same
    code as the preview endpoint; the form's problems instead, if it has any."""
    form = RuleForm.from_post(await request.form())
    body = form.checked()
    context: dict[str, Any] = {"form": form, "task": None, "event": {}, "problem": None}
    contact = chosen_id(form.values.get("contact_id", ""))
    if body is not None and contact is None:
        context["problem"] = "choose a contact to preview against"
    elif body is not None and contact is not None:
        event = form.sample_event(body)

        def run() -> Any:
            with sessions() as session:
                return preview_task(session, page.owner.id, draft(body), contact, event)

        try:
            context["task"] = await to_thread.run_sync(run)
            context["event"] = {k: v for k, v in event.items() if v}
        except NudgeError as err:
            context["problem"] = err.message
    return render(request, "_preview.html", context)


@router.post("/{rule_id}", response_class=HTMLResponse, summary="Save an edited rule")
async def update(
    rule_id: IdPath,
    request: Request,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> Response:
    return await _save(request, page, sessions, client, settings, rule_id)


@router.post("/{rule_id}/active", summary="Activate or deactivate a rule")
async def set_active(
    rule_id: IdPath,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    active: Annotated[bool, Form(description="The state wanted (so a double click is harmless).")],
) -> RedirectResponse:
    def change(rule: Rule) -> RuleIn:
        try:
            return merged(rule, {"is_active": active})
        except ValidationError as err:  # a rule saved by an older version that no longer checks
            first = err.errors()[0]["msg"]
            raise Unprocessable(f"this rule needs editing first: {first}") from None

    await save_rule(changing(page.owner.id, rule_id, change), sessions, client, settings)
    done = "rule-activated" if active else "rule-deactivated"
    return RedirectResponse(f"{BASE}?done={done}&rule={rule_id}#rules", 303)


@router.get("/{rule_id}/delete", response_class=HTMLResponse, summary="Confirm a delete")
async def confirm_delete(
    rule_id: IdPath, request: Request, page: PageDep, sessions: SessionsDep
) -> HTMLResponse:
    rule = await _load(sessions, page.owner.id, rule_id)
    return render(request, "rule_delete.html", {"page": page, "rule": rule})


@router.post("/{rule_id}/delete", summary="Delete a rule")
async def delete(
    rule_id: IdPath, page: PostDep, sessions: SessionsDep, client: ClientDep
) -> RedirectResponse:
    await delete_rule(sessions, client, page.owner.id, rule_id)
    return RedirectResponse(f"{BASE}?done=rule-deleted#rules", 303)


@router.get("/{rule_id}/firings", response_class=HTMLResponse, summary="A rule's firings")
async def firings(
    rule_id: IdPath,
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    offset: Annotated[Offset, Query()] = 0,
) -> HTMLResponse:
    def load() -> tuple[Rule, list, int, dict[int, str]]:
        with sessions() as session:
            rule = owned_rule(session, page.owner.id, rule_id)
            items, total = firing_page(session, page.owner.id, rule_id, FIRINGS_PER_PAGE, offset)
            names = contact_names(session, page.owner.id, (f.contact_id for f in items))
            return rule, items, total, names

    rule, items, total, names = await to_thread.run_sync(load)
    context = {
        "page": page,
        "rule": rule,
        "firings": items,
        "total": total,
        "names": names,
        "offset": offset,
        "per_page": FIRINGS_PER_PAGE,
    }
    return render(request, "firings.html", context)
