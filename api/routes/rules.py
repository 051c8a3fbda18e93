"""Automation rules: CRUD, a dry-run preview, and each rule's firing history."""

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep
from api.params import IdPath, Limit, Offset
from nudge.core.models import Rule
from nudge.core.types import Page
from nudge.platform.listing import page
from nudge.rules.schemas import (
    DraftPreviewIn,
    FiringOut,
    PreviewIn,
    PreviewOut,
    RuleIn,
    RuleOut,
    RulePatch,
)
from nudge.rules.service import (
    changing,
    creating,
    draft,
    firing_page,
    merged,
    owned_rule,
    preview_task,
    save_rule,
)
from nudge.rules.service import delete_rule as remove_rule

router = APIRouter(
    prefix="/api/task-automation/rules", tags=["rules"], route_class=JsonBoundaryRoute
)


@router.get("/", response_model=Page[RuleOut])
def list_rules(owner: OwnerDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> dict:
    items, total = page(session, Rule, [Rule.owner_id == owner.id], [Rule.id], limit, offset)
    return {"items": items, "total": total}


@router.post("/", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(
    body: RuleIn, owner: OwnerDep, sessions: SessionsDep, client: ClientDep, settings: SettingsDep
) -> RuleOut:
    """Templates are checked now: a syntax error, an unknown variable or anything unsafe is a
    422 naming the line or the allowed variables. Create it with `is_active: false` to test
    it first (see preview). A `time` rule gets its own Temporal Schedule."""

    return await save_rule(creating(owner.id, body), sessions, client, settings)


@router.get("/{rule_id:int}/", response_model=RuleOut, responses={404: {}})
def get_rule(rule_id: IdPath, owner: OwnerDep, session: SessionDep) -> Rule:
    return owned_rule(session, owner.id, rule_id)


@router.put("/{rule_id:int}/", response_model=RuleOut, responses={404: {}})
async def replace_rule(
    rule_id: IdPath,
    body: RuleIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> RuleOut:
    return await save_rule(changing(owner.id, rule_id, lambda _: body), sessions, client, settings)


@router.patch("/{rule_id:int}/", response_model=RuleOut, responses={404: {}})
async def update_rule(
    rule_id: IdPath,
    body: RulePatch,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> RuleOut:
    """Change some fields (e.g. `{"is_active": false}`); the result is checked as a whole.
    Deactivating leaves pending firings to be skipped when they come due, and pauses a time
    rule's schedule."""

    def patched(rule: Rule) -> RuleIn:
        try:
            return merged(rule, body.model_dump(exclude_unset=True))
        except ValidationError as err:
            raise RequestValidationError(err.errors()) from None

    return await save_rule(changing(owner.id, rule_id, patched), sessions, client, settings)


@router.delete("/{rule_id:int}/", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}})
async def delete_rule(
    rule_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Response:
    """Delete the rule and cancel its pending firings (their history stays)."""
    await remove_rule(sessions, client, owner.id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{rule_id:int}/preview/",
    response_model=PreviewOut,
    responses={
        404: {
            "description": "No such rule, or no such `contact_id` (or another owner's): "
            "the detail names which."
        },
        422: {},
    },
)
def preview(rule_id: IdPath, body: PreviewIn, owner: OwnerDep, session: SessionDep) -> PreviewOut:
    """The exact task this rule would create for the contact and event, if the event happened
    now. Writes nothing, starts nothing."""
    rule = owned_rule(session, owner.id, rule_id)
    event = body.event.model_dump() if body.event else {}
    return preview_task(session, owner.id, rule, body.contact_id, event)


@router.post("/preview/", response_model=PreviewOut, responses={404: {}, 422: {}})
def preview_draft(body: DraftPreviewIn, owner: OwnerDep, session: SessionDep) -> PreviewOut:
    """Like a rule's preview, for a rule not saved yet (the web page's live preview): the
    rule is checked as POST would check it, then rendered. Writes nothing."""
    event = body.event.model_dump() if body.event else {}
    return preview_task(session, owner.id, draft(body.rule), body.contact_id, event)


@router.get("/{rule_id:int}/firings/", response_model=Page[FiringOut], responses={404: {}})
def firings(
    rule_id: IdPath, owner: OwnerDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> dict:
    """Every time the rule matched an event: scheduled, created (with the task), skipped
    (with the reason) or cancelled. Newest first."""
    items, total = firing_page(session, owner.id, rule_id, limit, offset)
    return {"items": items, "total": total}
