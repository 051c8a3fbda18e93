"""Automation rules: CRUD, a dry-run preview, and each rule's firing history."""

import asyncio
from collections.abc import Callable

from anyio import to_thread
from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep
from api.pagination import page
from api.params import IdPath, Limit, Offset
from nudge.db import transaction
from nudge.errors import ContactNotFound, NotFound, Unprocessable
from nudge.models import Contact, CrmEvent, Rule, RuleFiring, utcnow
from nudge.rule_schedules import TimeRule, delete_rule_schedule, sync_rule_schedule
from nudge.rule_tasks import event_context, render_task, timing
from nudge.schemas import FiringOut, Page, PreviewIn, PreviewOut, RuleIn, RuleOut, RulePatch
from nudge.settings import Settings
from nudge.templating import TemplateProblem
from nudge.triggers import refuse_past_at

router = APIRouter(prefix="/api/task-automation/rules", tags=["rules"])


def _owned(session: Session, owner_id: int, rule_id: int) -> Rule:
    rule = session.scalar(select(Rule).where(Rule.id == rule_id, Rule.owner_id == owner_id))
    if rule is None:
        raise NotFound(f"rule {rule_id} not found")
    return rule


def _apply(rule: Rule, body: RuleIn) -> None:
    for field, value in body.model_dump().items():
        setattr(rule, field, value)


@router.get("/", response_model=Page[RuleOut])
def list_rules(owner: OwnerDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> dict:
    items, total = page(session, Rule, [Rule.owner_id == owner.id], [Rule.id], limit, offset)
    return {"items": items, "total": total}


def _check_at(config: dict) -> None:
    try:
        refuse_past_at(config)
    except ValueError as err:
        raise Unprocessable(str(err)) from None


def _snapshot(rule: Rule) -> TimeRule:
    return TimeRule(
        rule.id, rule.name, rule.trigger_type, dict(rule.trigger_config), rule.is_active
    )


async def _saved(
    write: Callable[[Session], Rule],
    sessions: sessionmaker[Session],
    client: Client,
    settings: Settings,
) -> RuleOut:
    """Commit the rule, then bring its schedule (time rules only) in line. If Temporal is
    down that is a 503; sending the same request again is safe."""

    def run() -> tuple[RuleOut, TimeRule, bool]:
        with transaction(sessions) as session:
            rule = write(session)
            before = session.info.pop("was_time", False)
            session.flush()
            return RuleOut.model_validate(rule), _snapshot(rule), before

    out, snapshot, was_time = await to_thread.run_sync(run)
    if snapshot.trigger_type == "time" or was_time:
        await sync_rule_schedule(client, settings.task_queue, snapshot)
    return out


@router.post("/", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
async def create_rule(
    body: RuleIn, owner: OwnerDep, sessions: SessionsDep, client: ClientDep, settings: SettingsDep
) -> RuleOut:
    """Templates are checked now: a syntax error, an unknown variable or anything unsafe is a
    422 naming the line or the allowed variables. Create it with `is_active: false` to test
    it first (see preview). A `time` rule gets its own Temporal Schedule."""

    _check_at(body.trigger_config)

    def write(session: Session) -> Rule:
        rule = Rule(owner_id=owner.id)
        _apply(rule, body)
        session.add(rule)
        return rule

    return await _saved(write, sessions, client, settings)


@router.get("/{rule_id}/", response_model=RuleOut, responses={404: {}})
def get_rule(rule_id: IdPath, owner: OwnerDep, session: SessionDep) -> Rule:
    return _owned(session, owner.id, rule_id)


def _change(
    owner_id: int, rule_id: int, make: Callable[[Rule], RuleIn]
) -> Callable[[Session], Rule]:
    def write(session: Session) -> Rule:
        rule = _owned(session, owner_id, rule_id)
        session.info["was_time"] = rule.trigger_type == "time"
        _apply(rule, make(rule))
        return rule

    return write


@router.put("/{rule_id}/", response_model=RuleOut, responses={404: {}})
async def replace_rule(
    rule_id: IdPath,
    body: RuleIn,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> RuleOut:
    _check_at(body.trigger_config)
    return await _saved(_change(owner.id, rule_id, lambda _: body), sessions, client, settings)


@router.patch("/{rule_id}/", response_model=RuleOut, responses={404: {}})
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

    if body.trigger_config is not None:
        _check_at(body.trigger_config)

    def merged(rule: Rule) -> RuleIn:
        values = RuleOut.model_validate(rule).model_dump(include=set(RuleIn.model_fields))
        values.update(body.model_dump(exclude_unset=True))
        try:
            return RuleIn.model_validate(values)
        except ValidationError as err:
            raise RequestValidationError(err.errors()) from None

    return await _saved(_change(owner.id, rule_id, merged), sessions, client, settings)


def _delete(sessions: sessionmaker[Session], owner_id: int, rule_id: int) -> list[str]:
    with transaction(sessions) as session:
        rule = _owned(session, owner_id, rule_id)
        pending = list(
            session.scalars(
                select(RuleFiring.workflow_id).where(
                    RuleFiring.rule_id == rule.id, RuleFiring.state == "scheduled"
                )
            )
        )
        session.execute(
            update(RuleFiring)
            .where(RuleFiring.rule_id == rule.id, RuleFiring.state == "scheduled")
            .values(state="cancelled", reason="rule deleted", updated_at=utcnow())
        )
        session.delete(rule)
    return pending


@router.delete("/{rule_id}/", status_code=status.HTTP_204_NO_CONTENT, responses={404: {}})
async def delete_rule(
    rule_id: IdPath, owner: OwnerDep, sessions: SessionsDep, client: ClientDep
) -> Response:
    """Delete the rule and cancel its pending firings (their history stays)."""
    pending = await to_thread.run_sync(_delete, sessions, owner.id, rule_id)
    await delete_rule_schedule(client, rule_id)

    async def cancel(workflow_id: str) -> None:
        try:
            await client.get_workflow_handle(workflow_id).cancel()
        except RPCError as err:  # already finished: the firing row says cancelled anyway
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    await asyncio.gather(*(cancel(w) for w in pending))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{rule_id}/preview/", response_model=PreviewOut, responses={404: {}, 422: {}})
def preview(rule_id: IdPath, body: PreviewIn, owner: OwnerDep, session: SessionDep) -> PreviewOut:
    """The exact task this rule would create for the contact and event, if the event happened
    now. Writes nothing, starts nothing."""
    rule = _owned(session, owner.id, rule_id)
    contact = session.scalar(
        select(Contact).where(Contact.id == body.contact_id, Contact.owner_id == owner.id)
    )
    if contact is None:
        raise ContactNotFound(body.contact_id)
    event = body.event.model_dump() if body.event else {}
    try:
        create_at, due_at, reminder_at = timing(rule, utcnow())
        rendered = render_task(
            rule,
            event_context(contact, **event),
            create_at=create_at,
            due_at=due_at,
            reminder_at=reminder_at,
        )
    except TemplateProblem as err:
        raise Unprocessable(f"this rule can't render for that event: {err}") from None
    return PreviewOut(**rendered.__dict__)


@router.get("/{rule_id}/firings/", response_model=Page[FiringOut], responses={404: {}})
def firings(
    rule_id: IdPath, owner: OwnerDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> dict:
    """Every time the rule matched an event: scheduled, created (with the task), skipped
    (with the reason) or cancelled. Newest first."""
    _owned(session, owner.id, rule_id)
    where = [RuleFiring.rule_id == rule_id, RuleFiring.owner_id == owner.id]
    rows, total = page(session, RuleFiring, where, [RuleFiring.id.desc()], limit, offset)
    ids = [f.event_row_id for f in rows]
    events = {
        row_id: event_id
        for row_id, event_id in session.execute(
            select(CrmEvent.id, CrmEvent.event_id).where(CrmEvent.id.in_(ids))
        ).all()
    }
    items = [
        FiringOut.model_validate(
            {**{c: getattr(f, c) for c in FiringOut.model_fields if hasattr(f, c)},
             "event_id": events.get(f.event_row_id, "")}
        )
        for f in rows
    ]  # fmt: skip
    return {"items": items, "total": total}
