"""Turning a rule plus an event snapshot into the task it makes (shared by the firing
activity and the preview endpoint, so a preview shows exactly what a firing writes)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nudge.calendar.timing import Placed, Wait
from nudge.core.models import Contact, Rule
from nudge.core.priority import ByScore, joined, resolve
from nudge.core.templating import MAX_DESCRIPTION, MAX_TITLE, render
from nudge.core.vocabulary import Placement, Priority


@dataclass
class RenderedTask:
    title: str
    description: str
    priority: Priority
    due_at: datetime
    reminder_at: datetime | None
    create_at: datetime


def event_context(
    contact: Contact,
    *,
    activity_type: str | None = None,
    old_status: str | None = None,
    new_status: str | None = None,
) -> dict[str, str]:
    """Plain strings only; a variable the event doesn't have is left out (StrictUndefined)."""
    values = {
        "contact_name": contact.name,
        "contact_email": contact.email,
        "activity_type": activity_type,
        "old_status": old_status,
        "new_status": new_status,
    }
    return {k: v for k, v in values.items() if v is not None}


Placer = Callable[[datetime, Wait, Placement], Placed]


def rule_wait(rule: Rule) -> Wait:
    if rule.delay_business_days is not None:
        return Wait(business_days=rule.delay_business_days)
    return Wait(hours=rule.delay_hours)


def placed(rule: Rule) -> bool:
    """Its due time needs the calendar (else it is plain arithmetic, as ever)."""
    return rule.placement not in (None, "anytime") or rule.delay_business_days is not None


def placed_run(rule: Rule, run_at: datetime, place: Placer) -> datetime:
    """A time or overdue rule's task is due when the rule runs (its delay never applied to
    them); a placed rule's then moves into the calendar's hours."""
    if rule.placement in (None, "anytime"):
        return run_at
    return place(run_at, Wait(hours=0), rule.placement).due_at


Timing = tuple[datetime, datetime, datetime | None, Placed | None]


def timing(rule: Rule, occurred_at: datetime, place: Placer | None = None) -> Timing:
    """(create_at, due_at, reminder_at, placed): the task is due `delay_hours` (or business
    days) after the event, placed by the owner's calendar (`place`, needed when the rule is
    `placed`), and is written when its reminder is due (or when it is due, without one)."""
    where: Placed | None = None
    if placed(rule):
        assert place is not None, "a placed rule needs the calendar"
        where = place(occurred_at, rule_wait(rule), rule.placement or "anytime")
        due = where.due_at
    else:
        due = occurred_at + timedelta(hours=rule.delay_hours)
    if rule.reminder_offset_hours is None:
        return due, due, None, where
    # A reminder counts back from the placed due time, unplaced: it is there to come first.
    remind = due - timedelta(hours=rule.reminder_offset_hours)
    return max(remind, occurred_at), due, remind, where


def rule_priority(rule: Rule) -> Priority | ByScore:
    """The rule's priority, plain or by score (its row keeps the latter in two columns)."""
    return joined(rule.task_priority, rule.priority_by_score)


def render_task(
    rule: Rule,
    context: dict[str, str],
    *,
    score: int | None,
    create_at: datetime,
    due_at: datetime,
    reminder_at: datetime | None,
) -> RenderedTask:
    """Raises TemplateProblem when a template can't render for this event. A priority by
    score is resolved with `score`: the contact's as the task is written (None: none)."""
    values = {**context, "rule_name": rule.name, "due_date": due_at.strftime("%Y-%m-%d %H:%M UTC")}
    return RenderedTask(
        title=render(rule.task_title_template, values, MAX_TITLE),
        description=render(rule.task_description_template, values, MAX_DESCRIPTION),
        priority=resolve(rule_priority(rule), score),
        due_at=due_at,
        reminder_at=reminder_at,
        create_at=create_at,
    )
