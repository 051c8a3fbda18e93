"""The rule firing activity: re-check, render, write the task and count it, in one go."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nudge.contracts import FiringOutcome
from nudge.db import transaction
from nudge.models import Contact, CrmEvent, Rule, RuleFiring, Task, utcnow
from nudge.rule_tasks import render_task
from nudge.templating import TemplateProblem


class RuleActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def fire_rule(self, firing_id: int) -> FiringOutcome:
        """Idempotent: a firing that is no longer `scheduled` answers with what it became."""
        with transaction(self.sessions) as session:
            firing = session.scalar(
                select(RuleFiring).where(RuleFiring.id == firing_id).with_for_update()
            )
            if firing is None:
                return FiringOutcome(state="skipped", reason="firing no longer exists")
            if firing.state != "scheduled":
                return _outcome(session, firing)
            rule = session.get(Rule, firing.rule_id) if firing.rule_id else None
            contact = session.get(Contact, firing.contact_id) if firing.contact_id else None
            event = session.get(CrmEvent, firing.event_row_id)
            reason = (
                "rule deleted"
                if rule is None
                else "rule inactive"
                if not rule.is_active
                else "contact deleted"
                if contact is None or event is None
                else None
            )
            if reason is None:
                assert rule is not None and event is not None
                try:
                    task = _write_task(session, rule, firing, event.occurred_at)
                except TemplateProblem as err:
                    reason = f"template: {err}"
                else:
                    firing.state, firing.task_id = "created", task.id
                    # Counted in the transaction that wrote the task: retries can't drift it.
                    session.execute(
                        update(Rule)
                        .where(Rule.id == rule.id)
                        .values(tasks_created=Rule.tasks_created + 1)
                    )
            if reason is not None:
                firing.state, firing.reason = "skipped", reason
            firing.updated_at = utcnow()
            session.flush()
            return _outcome(session, firing)


def _write_task(session: Session, rule: Rule, firing: RuleFiring, occurred_at: datetime) -> Task:
    rendered = render_task(rule, firing.context, occurred_at)
    task = Task(
        owner_id=firing.owner_id,
        contact_id=firing.contact_id,
        title=rendered.title,
        description=rendered.description,
        priority=rendered.priority,
        due_at=rendered.due_at,
        reminder_at=rendered.reminder_at,
        reminder_status="scheduled" if rendered.reminder_at else "none",
        source=f"rule:{rule.id}",
        workflow_id=firing.workflow_id,
        idempotency_key=firing.workflow_id,
    )
    session.add(task)
    session.flush()
    return task


def _outcome(session: Session, firing: RuleFiring) -> FiringOutcome:
    task = session.get(Task, firing.task_id) if firing.task_id else None
    return FiringOutcome(
        state=firing.state,  # type: ignore[arg-type]
        reason=firing.reason,
        task_id=firing.task_id,
        reminder_at=task.reminder_at if task else None,
    )
