"""Saving, deleting and previewing rules: one path for the JSON API and the web page."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from anyio import to_thread
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.calendar.placing import local, placer_for
from nudge.calendar.snapshots import calendar_snapshot
from nudge.contacts.lookup import owned_contact
from nudge.core.errors import NotFound, Unprocessable
from nudge.core.models import CrmEvent, Rule, RuleFiring, Task, utcnow
from nudge.core.priority import split
from nudge.core.rollups import forget_rule
from nudge.core.templating import TemplateProblem
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.platform.listing import page
from nudge.platform.settings import Settings
from nudge.platform.temporal import delivered
from nudge.rules.cron import next_runs
from nudge.rules.render import event_context, render_task, timing
from nudge.rules.schedules import TimeRule, delete_rule_schedule, sync_rule_schedule
from nudge.rules.schemas import FiringOut, PreviewOut, RuleIn, RuleOut
from nudge.rules.triggers import ConfigBase, refuse_past_at

Write = Callable[[Session], Rule]


def owned_rule(session: Session, owner_id: int, rule_id: int) -> Rule:
    rule = session.scalar(select(Rule).where(Rule.id == rule_id, Rule.owner_id == owner_id))
    if rule is None:
        raise NotFound(f"rule {rule_id} not found")
    return rule


def check_at(config: ConfigBase | dict[str, Any]) -> None:
    """Unprocessable if the config (a rule's, or as its row keeps it) names an `at` passed."""
    try:
        refuse_past_at(config.stored() if isinstance(config, ConfigBase) else config)
    except ValueError as err:
        raise Unprocessable(str(err)) from None


def _apply(rule: Rule, body: RuleIn) -> None:
    for field, value in body.model_dump(exclude={"task_priority"}).items():
        setattr(rule, field, value)
    # By score: the pairs in their own column, the `else` as the plain priority; a plain
    # priority clears the pairs.
    rule.task_priority, rule.priority_by_score = split(body.task_priority)


def creating(owner_id: int, body: RuleIn) -> Write:
    def write(session: Session) -> Rule:
        check_at(body.trigger_config)
        rule = Rule(owner_id=owner_id)
        _apply(rule, body)
        session.add(rule)
        return rule

    return write


def changing(owner_id: int, rule_id: int, make: Callable[[Rule], RuleIn]) -> Write:
    """`make` builds the whole new rule from the stored one (PUT ignores it, PATCH merges)."""

    def write(session: Session) -> Rule:
        rule = owned_rule(session, owner_id, rule_id)
        session.info["was_time"] = rule.trigger_type == "time"
        body = make(rule)
        if body.stored_config() != rule.trigger_config:
            check_at(body.stored_config())
        _apply(rule, body)
        return rule

    return write


def merged(rule: Rule, changes: dict) -> RuleIn:
    """The stored rule with some fields changed, checked as a whole (ValidationError)."""
    values = RuleOut.model_validate(rule).model_dump(include=set(RuleIn.model_fields))
    values.update(changes)
    # A cron saved before today's checks stays valid while the change leaves it alone, so an
    # old rule can still be paused, renamed or deleted.
    stored = None if "trigger_config" in changes else rule.trigger_config.get("cron")
    return RuleIn.model_validate(values, context={"stored_cron": stored})


def _snapshot(rule: Rule) -> TimeRule:
    return TimeRule(
        rule.id, rule.name, rule.trigger_type, dict(rule.trigger_config), rule.is_active
    )


async def save_rule(
    write: Write, sessions: sessionmaker[Session], client: Client, settings: Settings
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


def _delete_rows(sessions: sessionmaker[Session], owner_id: int, rule_id: int) -> list[str]:
    with transaction(sessions) as session:
        rule = owned_rule(session, owner_id, rule_id)
        pending = list(
            session.scalars(
                select(RuleFiring.workflow_id).where(
                    RuleFiring.rule_id == rule.id, RuleFiring.state == "scheduled"
                )
            )
        )
        cancelled = session.execute(
            update(RuleFiring)
            .where(RuleFiring.rule_id == rule.id, RuleFiring.state == "scheduled")
            .values(state="cancelled", reason="rule deleted", updated_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult has rowcount
        # SQLite may hand a deleted rule's id to the next rule: its tasks keep their
        # `source` ("rule:<id>") but stop counting for that id.
        session.execute(
            update(Task)
            .where(Task.owner_id == owner_id, Task.rule_id == rule.id)
            .values(rule_id=None)
        )
        forget_rule(session, owner_id, rule.id)
        session.delete(rule)
    metrics.RULE_FIRINGS.labels("cancelled").inc(cancelled)  # settled here, once committed
    return pending


async def delete_rule(
    sessions: sessionmaker[Session], client: Client, owner_id: int, rule_id: int
) -> None:
    """Delete the rule and its schedule, and cancel its pending firings (history stays)."""
    pending = await to_thread.run_sync(_delete_rows, sessions, owner_id, rule_id)
    await delete_rule_schedule(client, rule_id)

    # One that already finished is fine: its firing row says cancelled anyway.
    await asyncio.gather(*(delivered(client.get_workflow_handle(w).cancel()) for w in pending))


def preview_task(
    session: Session,
    owner_id: int,
    rule: Rule,
    contact_id: int,
    event: dict[str, str | None],
    now: datetime | None = None,
) -> PreviewOut:
    """The task `rule` (stored, or a draft never saved) would make for the contact if the
    event happened now (its priority by the contact's score now, if by score), and a time
    rule's next runs. Writes nothing, starts nothing."""
    contact = owned_contact(session, owner_id, contact_id=contact_id)
    now = now or utcnow()
    try:
        place = placer_for(session, owner_id, contact, now)
        create_at, due_at, reminder_at, where = timing(rule, now, place)
        rendered = render_task(
            rule,
            event_context(contact, **event),
            score=contact.score,
            create_at=create_at,
            due_at=due_at,
            reminder_at=reminder_at,
        )
    except TemplateProblem as err:
        raise Unprocessable(f"this rule can't render for that event: {err}") from None
    runs = next_runs(rule.trigger_config, now) if rule.trigger_type == "time" else None
    calendar = calendar_snapshot(session, owner_id, now)
    return PreviewOut(
        **rendered.__dict__,
        next_runs=runs,
        placement=where.placement if where else "anytime",
        placement_reason=where.reason if where else None,
        due_local=local(due_at, calendar.timezone),
        due_contact_local=local(due_at, contact.timezone) if contact.timezone else None,
    )


def draft(body: RuleIn) -> Rule:
    """A Rule object that is never added to a session: what a preview renders."""
    rule = Rule()
    _apply(rule, body)
    return rule


def firing_page(
    session: Session, owner_id: int, rule_id: int, limit: int, offset: int
) -> tuple[list[FiringOut], int]:
    """One page of a rule's firings with the CRM's event ids (the API and the web page)."""
    owned_rule(session, owner_id, rule_id)
    where = [RuleFiring.rule_id == rule_id, RuleFiring.owner_id == owner_id]
    rows, total = page(session, RuleFiring, where, [RuleFiring.id.desc()], limit, offset)
    ids = [f.event_row_id for f in rows]
    events = {
        row_id: event_id
        for row_id, event_id in session.execute(
            select(CrmEvent.id, CrmEvent.event_id).where(CrmEvent.id.in_(ids))
        ).all()
    }
    return [FiringOut.of(f, events.get(f.event_row_id, "")) for f in rows], total
