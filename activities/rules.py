"""Rule activities: a firing (re-check, render, write, count in one go), and a time rule's run."""

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nudge.calendar.placing import placer_for
from nudge.core.ids import time_rule_key
from nudge.core.models import Contact, Rule, RuleFiring, Task, utcnow
from nudge.core.templating import TemplateProblem
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.rules.payloads import FiringOutcome
from nudge.rules.render import event_context, placed, placed_run, render_task
from nudge.tasks.payloads import NewTask
from nudge.tasks.writer import insert_task, write_task_once


class RuleActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def fire_rule(self, firing_id: int) -> FiringOutcome:
        """Idempotent: a firing that is no longer `scheduled` answers with what it became."""
        try:
            outcome, settled = self._fire(firing_id)
        except _Overtaken:
            # Now answers with what the other writer decided (and counted: a delete).
            outcome, settled = self._fire(firing_id)
        if settled:  # this call's transaction committed the firing's end
            metrics.RULE_FIRINGS.labels(outcome.state).inc()
            if outcome.state == "created":
                metrics.task_created("rule")
        return outcome

    def _fire(self, firing_id: int) -> tuple[FiringOutcome, bool]:
        """The outcome, and whether this call settled the firing (False: it was already)."""
        with transaction(self.sessions) as session:
            firing = session.get(RuleFiring, firing_id)
            if firing is None:
                return FiringOutcome(state="skipped", reason="firing no longer exists"), False
            if firing.state != "scheduled":
                return _outcome(session, firing), False
            rule = session.get(Rule, firing.rule_id) if firing.rule_id else None
            contact = session.get(Contact, firing.contact_id) if firing.contact_id else None
            task, reason = None, _why_not(rule, contact)
            if rule is not None and reason is None:
                try:
                    task = _write_task(session, rule, firing, contact)
                except TemplateProblem as err:
                    reason = f"template: {err}"
            # Only from `scheduled`: a delete that cancelled the firing meanwhile wins, and
            # this transaction (task and its count included) rolls back.
            claimed = session.execute(
                update(RuleFiring)
                .where(RuleFiring.id == firing.id, RuleFiring.state == "scheduled")
                .values(
                    state="created" if task else "skipped",
                    reason=reason,
                    task_id=task.id if task else None,
                    updated_at=utcnow(),
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult has rowcount
                raise _Overtaken
            session.expire(firing)
            return _outcome(session, firing), True


class _Overtaken(Exception):
    """The firing left `scheduled` (e.g. its rule was deleted) while we were writing."""


def _why_not(rule: Rule | None, contact: Contact | None) -> str | None:
    if rule is None:
        return "rule deleted"
    if not rule.is_active:
        return "rule inactive"
    if contact is None:
        return "contact deleted"
    return None


def _write_task(session: Session, rule: Rule, firing: RuleFiring, contact: Contact | None) -> Task:
    rendered = render_task(
        rule,
        firing.context,
        score=contact.score if contact else None,  # as it is now, when the task is written
        create_at=firing.create_at,
        due_at=firing.due_at,
        reminder_at=firing.reminder_at,
    )
    return insert_task(
        session,
        NewTask(
            idempotency_key=firing.workflow_id,
            owner_id=firing.owner_id,
            contact_id=firing.contact_id,
            workflow_id=firing.workflow_id,
            source=f"rule:{rule.id}",
            rule_id=rule.id,  # the event counted the trigger; the task counts here
            title=rendered.title,
            description=rendered.description,
            priority=rendered.priority,
            due_at=rendered.due_at,
            reminder_at=rendered.reminder_at,
        ),
    )


def _outcome(session: Session, firing: RuleFiring) -> FiringOutcome:
    task = session.get(Task, firing.task_id) if firing.task_id else None
    if firing.state == "scheduled":  # unreachable: callers settle the firing first
        raise RuntimeError(f"firing {firing.id} is still scheduled")
    return FiringOutcome(
        state=firing.state,
        reason=firing.reason,
        task_id=firing.task_id,
        reminder_at=task.reminder_at if task else None,
    )


class TimeRuleActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def run_time_rule(self, rule_id: int, run_at: datetime) -> int:
        """One task per matching contact for this run; the key holds (rule, run, contact), so
        a retried or repeated run adds nothing. Returns how many tasks this call wrote."""
        with self.sessions() as session:
            rule = session.get(Rule, rule_id)
            if rule is None or not rule.is_active or rule.trigger_type != "time":
                return 0
            filters = rule.trigger_config.get("contact_filter", {})
            query = select(Contact).where(Contact.owner_id == rule.owner_id)
            for field in ("status", "cadence"):
                if field in filters:
                    query = query.where(getattr(Contact, field) == filters[field])
            contacts = list(session.scalars(query.order_by(Contact.id)))
        return sum(self._one(rule, contact, run_at) for contact in contacts)

    def _one(self, rule: Rule, contact: Contact, run_at: datetime) -> bool:
        due = run_at
        if placed(rule):  # by the calendar, in the contact's zone where the rule says so
            with self.sessions() as session:
                place = placer_for(session, rule.owner_id, contact, datetime.now(UTC))
                due = placed_run(rule, run_at, place)
        try:
            rendered = render_task(
                rule,
                event_context(contact),
                score=contact.score,  # as read for this run
                create_at=run_at,
                due_at=due,
                reminder_at=None,
            )
        except TemplateProblem:
            return False
        written = write_task_once(
            self.sessions,
            NewTask(
                idempotency_key=time_rule_key(rule.id, run_at, contact.id),
                owner_id=rule.owner_id,
                contact_id=contact.id,
                source=f"rule:{rule.id}",
                rule_id=rule.id,
                counts_trigger=True,  # each contact of a run is one trigger
                title=rendered.title,
                description=rendered.description,
                priority=rendered.priority,
                due_at=due,
            ),
        )
        return written.created
