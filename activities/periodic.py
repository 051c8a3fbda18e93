"""The periodic jobs' work, one bounded page per call (the workflow pages through)."""

import asyncio
from datetime import timedelta
from typing import Any, cast

from anyio import to_thread
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client

from nudge.calendar.placing import placer_for
from nudge.calendar.snapshots import calendar_snapshot
from nudge.calendar.timing import CalendarSnapshot
from nudge.campaigns.payloads import EnrollmentInput
from nudge.campaigns.starts import start_enrollment
from nudge.campaigns.steps import step_specs
from nudge.core.ids import overdue_key
from nudge.core.models import (
    Campaign,
    Contact,
    CrmEvent,
    Enrollment,
    Notification,
    Rule,
    Task,
    TaskBatch,
    WebhookDelivery,
    utcnow,
)
from nudge.core.templating import MAX_DESCRIPTION, MAX_TITLE, TemplateProblem, render
from nudge.core.vocabulary import OVERDUE_SOURCE
from nudge.integrations.inbound import process_pending
from nudge.integrations.outbox import subscribers, task_event
from nudge.integrations.starts import DeliveryTiming, kick_delivery
from nudge.periodic.payloads import SweepPage, SweepResult
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.platform.temporal import CONTACT_ID
from nudge.recurring.payloads import RecurringInput
from nudge.recurring.starts import start_or_reshape_recurring, stop_recurring_workflow
from nudge.reminders.starts import start_reminder
from nudge.rules.events import finish_unprocessed
from nudge.rules.render import placed, placed_run
from nudge.tasks.ended import batch_end, record_end
from nudge.tasks.payloads import NewTask
from nudge.tasks.writer import insert_tasks, write_task_once

# A running batch Temporal has never heard of is still starting for seconds, not an hour.
FORGOTTEN_AFTER = timedelta(hours=1)
# Temporal describe calls in flight at once while closing ended batches (a page is 500).
DESCRIBES_AT_ONCE = 20


def _overdue_event(session: Session, task_id: int) -> None:
    """task.overdue, with the escalation that found it (once: the escalation's key)."""
    # Locked: a completion committing meanwhile orders its event after this one, or this
    # sees the task completed and sends none.
    late = session.get(Task, task_id, with_for_update=True)
    if late is not None and late.status == "open":
        task_event(session, late, "task.overdue")


def _overdue_rules(session: Session, owner_ids: set[int]) -> dict[int, Rule]:
    """Each owner's active overdue rule (the first made, if several)."""
    rules = session.scalars(
        select(Rule)
        .where(
            Rule.owner_id.in_(owner_ids),
            Rule.trigger_type == "overdue",
            Rule.is_active.is_(True),
        )
        .order_by(Rule.id.desc())
    )
    return {rule.owner_id: rule for rule in rules}  # the lowest id wins: it comes last


def _escalation(
    session: Session, task: Task, page: SweepPage, rule: Rule | None, contact: Contact | None
) -> NewTask:
    """The urgent task that escalates a late one: due now (in working hours, if the rule
    places it), from the rule's templates or a plain "Overdue: …"."""
    due = page.now
    if rule is not None and placed(rule):  # the escalation lands in working hours
        place = placer_for(session, task.owner_id, contact, page.now)
        due = placed_run(rule, page.now, place)
    title, description = f"Overdue: {task.title}"[:MAX_TITLE], task.description
    if rule is not None:
        values = {"rule_name": rule.name, "due_date": f"{task.due_at:%Y-%m-%d %H:%M UTC}"}
        if contact is not None:
            values["contact_name"] = contact.name
        try:
            title = render(rule.task_title_template, values, MAX_TITLE)
            description = render(rule.task_description_template, values, MAX_DESCRIPTION)
        except TemplateProblem:
            pass  # the plain "Overdue: …" still goes out
    return NewTask(
        idempotency_key=overdue_key(task.id),
        owner_id=task.owner_id,
        contact_id=task.contact_id,
        source=OVERDUE_SOURCE,
        rule_id=rule.id if rule else None,
        counts_trigger=True,  # each escalation is one trigger of the overdue rule
        title=title,
        description=description,
        priority="urgent",
        due_at=due,
    )


def _placement(session: Session, owner_id: int, campaign_id: int) -> dict[str, Any]:
    """A placed campaign's enrollment restarted: the owner's calendar as it is now."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.placement == "anytime":
        return {}
    return {
        "placement": campaign.placement,
        "calendar": calendar_snapshot(session, owner_id, utcnow()),
    }


class PeriodicActivities:
    def __init__(
        self,
        client: Client,
        sessions: sessionmaker[Session],
        task_queue: str,
        *,
        grace_hours: float,
        delivery_timing: DeliveryTiming = DeliveryTiming(),
    ) -> None:
        self.client, self.sessions, self.task_queue = client, sessions, task_queue
        self.grace = timedelta(hours=grace_hours)
        self.delivery_timing = delivery_timing

    @activity.defn
    async def process_inbound(self, page: SweepPage) -> SweepResult:
        """CRM webhook events stored but not applied (the process that received them died,
        or Temporal was away): applied now, once (each row is claimed before it is applied).
        One page a run; the next run takes the rest."""
        applied = await process_pending(self.client, self.sessions, self.task_queue, page.limit)
        return SweepResult(examined=applied, acted=applied, last_id=0, done=True)

    @activity.defn
    async def kick_pending_deliveries(self, page: SweepPage) -> SweepResult:
        """Task events whose delivery no kick started (the writer's process died first)."""
        return await kick_pending(
            self.client, self.sessions, self.task_queue, self.delivery_timing, page
        )

    @activity.defn
    def escalate_overdue(self, page: SweepPage) -> SweepResult:
        """One urgent "Overdue: …" task per open task past due + grace, keyed on that task;
        a page's escalations in one transaction (a 100k backlog is minutes, not hours)."""
        with self.sessions() as session:
            late = list(
                session.scalars(
                    select(Task)
                    .where(
                        Task.status == "open",
                        Task.due_at < page.now - self.grace,
                        Task.source != OVERDUE_SOURCE,
                        Task.id > page.after_id,
                    )
                    .order_by(Task.id)
                    .limit(page.limit)
                )
            )
        try:
            acted = self._escalate_page(late, page)
        except IntegrityError:
            # Another sweep wrote some of these keys meanwhile: one at a time, as it races.
            acted = sum(self._escalate(task, page) for task in late)
        last = late[-1].id if late else page.after_id
        return SweepResult(
            examined=len(late), acted=acted, last_id=last, done=len(late) < page.limit
        )

    def _escalate_page(self, late: list[Task], page: SweepPage) -> int:
        """The page's escalations not written before, in one transaction: each through the one
        task writer, each late task locked and told overdue as it would be alone."""
        keys = {overdue_key(task.id): task for task in late}
        with transaction(self.sessions) as session:
            done = set(
                session.scalars(select(Task.idempotency_key).where(Task.idempotency_key.in_(keys)))
            )
            todo = [task for key, task in keys.items() if key not in done]
            if not todo:
                return 0
            rules = _overdue_rules(session, {task.owner_id for task in todo})
            ids = {task.contact_id for task in todo if task.contact_id}
            contacts = {
                c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))
            }
            # Locked: a completion committing meanwhile orders its event after ours, or we see
            # the task completed and send none (as _overdue_event does for one task).
            still_open = {
                t.id: t
                for t in session.scalars(
                    select(Task)
                    .where(Task.id.in_([task.id for task in todo]), Task.status == "open")
                    .with_for_update()
                )
            }
            # Whose owners subscribe to task.overdue, asked once per owner, not per task.
            told = {o: subscribers(session, o, "task.overdue") for o in {t.owner_id for t in todo}}
            news = [
                _escalation(
                    session,
                    task,
                    page,
                    rules.get(task.owner_id),
                    contacts.get(task.contact_id) if task.contact_id else None,
                )
                for task in todo
            ]
            insert_tasks(session, news)
            for task in todo:
                if task.id in still_open and told[task.owner_id]:
                    task_event(session, still_open[task.id], "task.overdue", told[task.owner_id])
        for new in news:  # committed: the rows are really there
            metrics.task_created(new.source)
        return len(news)

    def _escalate(self, task: Task, page: SweepPage) -> bool:
        with self.sessions() as session:
            rule = _overdue_rules(session, {task.owner_id}).get(task.owner_id)
            contact = session.get(Contact, task.contact_id) if task.contact_id else None
            new = _escalation(session, task, page, rule, contact)
        written = write_task_once(
            self.sessions, new, also=lambda session: _overdue_event(session, task.id)
        )
        return written.created

    def _calendars(self, contacts: list[Contact]) -> dict[int, CalendarSnapshot]:
        """Owners' calendars, for the placed cadences the reconcile may have to start (one
        running keeps its own: a reshape never swaps it)."""
        owners = {c.owner_id for c in contacts if c.cadence_placement not in (None, "anytime")}
        now = utcnow()
        with self.sessions() as session:
            return {owner: calendar_snapshot(session, owner, now) for owner in owners}

    @activity.defn
    async def remind_due(self, page: SweepPage) -> SweepResult:
        """Start the reminder workflow of every open task whose reminder is due and was not
        delivered. Its id dedupes: concurrent sweeps and a live reminder make one delivery."""

        def due() -> list[Task]:
            with self.sessions() as session:
                return list(
                    session.scalars(
                        select(Task)
                        .where(
                            Task.status == "open",
                            Task.reminder_at <= page.now,
                            Task.reminder_status == "scheduled",
                            Task.id > page.after_id,
                            ~exists().where(Notification.task_id == Task.id),
                        )
                        .order_by(Task.id)
                        .limit(page.limit)
                    )
                )

        tasks = await to_thread.run_sync(due)
        started = await asyncio.gather(*(self._start_reminder(t) for t in tasks))
        last = tasks[-1].id if tasks else page.after_id
        return SweepResult(
            examined=len(tasks), acted=sum(started), last_id=last, done=len(tasks) < page.limit
        )

    async def _start_reminder(self, task: Task) -> bool:
        assert task.reminder_at is not None  # selected by it
        return await start_reminder(
            self.client,
            self.task_queue,
            owner_id=task.owner_id,
            task_id=task.id,
            remind_at=task.reminder_at,
        )

    @activity.defn
    async def reconcile_recurring(self, page: SweepPage) -> SweepResult:
        """Every contact with a cadence has its recurring workflow (signal-with-start is a
        no-op for one that runs with that cadence)."""

        def with_cadence() -> list[Contact]:
            with self.sessions() as session:
                return list(
                    session.scalars(
                        select(Contact)
                        .where(Contact.cadence.is_not(None), Contact.id > page.after_id)
                        .order_by(Contact.id)
                        .limit(page.limit)
                    )
                )

        contacts = await to_thread.run_sync(with_cadence)
        calendars = await to_thread.run_sync(self._calendars, contacts)
        handles = await asyncio.gather(
            *(
                start_or_reshape_recurring(
                    self.client,
                    self.task_queue,
                    RecurringInput(
                        owner_id=c.owner_id,
                        contact_id=c.id,
                        cadence=c.cadence,
                        placement=c.cadence_placement or "anytime",
                        calendar=calendars.get(c.owner_id),
                    ),
                    c.name,
                )
                for c in contacts
            )
        )
        stopped = await self._stop_strays(page.limit) if page.after_id == 0 else 0
        last = contacts[-1].id if contacts else page.after_id
        return SweepResult(
            examined=len(contacts),
            acted=len(handles) + stopped,
            last_id=last,
            done=len(contacts) < page.limit,
        )

    @activity.defn
    async def finish_events(self, page: SweepPage) -> SweepResult:
        """Events whose first processing failed half-way (Temporal was down) get finished."""

        def stuck() -> list[tuple[int, int, int]]:
            with self.sessions() as session:
                rows = session.execute(
                    select(CrmEvent.id, CrmEvent.owner_id, CrmEvent.contact_id)
                    .where(
                        CrmEvent.processed_at.is_(None),
                        CrmEvent.created_at < page.now - timedelta(minutes=5),
                        CrmEvent.contact_id.is_not(None),
                        CrmEvent.id > page.after_id,
                    )
                    .order_by(CrmEvent.id)
                    .limit(page.limit)
                ).all()
                # The WHERE clause excludes a NULL contact_id, so r[2] is an int.
                return [(r[0], r[1], cast(int, r[2])) for r in rows]

        rows = await to_thread.run_sync(stuck)
        for owner_id, contact_id in sorted({(o, c) for _, o, c in rows}):
            await finish_unprocessed(
                self.client, self.sessions, self.task_queue, owner_id, contact_id
            )
        last = rows[-1][0] if rows else page.after_id
        return SweepResult(
            examined=len(rows), acted=len(rows), last_id=last, done=len(rows) < page.limit
        )

    @activity.defn
    async def restart_enrollments(self, page: SweepPage) -> SweepResult:
        """Enrollments whose batch still runs but whose workflow never started (a crash
        between the rows and the start) get started; a started one is left alone."""

        def running() -> list[EnrollmentInput]:
            with self.sessions() as session:
                rows = session.execute(
                    select(Enrollment)
                    .join(TaskBatch, TaskBatch.id == Enrollment.batch_id)
                    .where(TaskBatch.status == "running", Enrollment.id > page.after_id)
                    .order_by(Enrollment.id)
                    .limit(page.limit)
                ).scalars()
                return [
                    EnrollmentInput(
                        owner_id=e.owner_id,
                        campaign_id=e.campaign_id,
                        contact_id=e.contact_id,
                        enrollment_id=e.id,
                        batch_id=e.batch_id,
                        steps=step_specs(session, e.campaign_id),
                        **_placement(session, e.owner_id, e.campaign_id),
                    )
                    for e in rows
                ]

        found = await to_thread.run_sync(running)
        started = await asyncio.gather(
            *(start_enrollment(self.client, self.task_queue, inp) for inp in found)
        )
        last = found[-1].enrollment_id if found else page.after_id
        return SweepResult(
            examined=len(found), acted=sum(started), last_id=last, done=len(found) < page.limit
        )

    @activity.defn
    async def close_ended_batches(self, page: SweepPage) -> SweepResult:
        """Batches still marked running whose run has ended in Temporal (terminated, timed
        out, failed, or cancelled before it could say so) get that end, with Temporal's
        reason: the batch listing and the stats' running counts follow Temporal."""

        def running() -> list[TaskBatch]:
            with self.sessions() as session:
                return list(
                    session.scalars(
                        select(TaskBatch)
                        .where(TaskBatch.status == "running", TaskBatch.id > page.after_id)
                        .order_by(TaskBatch.id)
                        .limit(page.limit)
                    )
                )

        gate = asyncio.Semaphore(DESCRIBES_AT_ONCE)

        async def close(batch: TaskBatch) -> bool:
            async with gate:
                end = await batch_end(self.client, batch, forgotten_after=FORGOTTEN_AFTER)
            if end is None:  # still running, or not started yet
                return False
            return await to_thread.run_sync(record_end, self.sessions, batch.id, end)

        batches = await to_thread.run_sync(running)
        # One batch Temporal can't answer for must not keep the rest of the page open.
        closed = await asyncio.gather(*(close(b) for b in batches), return_exceptions=True)
        for batch, outcome in zip(batches, closed, strict=True):
            if isinstance(outcome, BaseException):
                activity.logger.warning(
                    "batch %d: its end could not be read: %s", batch.id, outcome
                )
        last = batches[-1].id if batches else page.after_id
        return SweepResult(
            examined=len(batches),
            acted=sum(outcome is True for outcome in closed),
            last_id=last,
            done=len(batches) < page.limit,
        )

    async def _stop_strays(self, limit: int) -> int:
        """Recurring workflows whose contact no longer has a cadence are stopped; the
        listing is read a page (`limit` workflows) at a time."""
        query = "NudgeKind = 'recurring' AND ExecutionStatus = 'Running'"

        def cleared(ids: list[int]) -> set[int]:
            with self.sessions() as session:
                return set(
                    session.scalars(
                        select(Contact.id).where(Contact.id.in_(ids), Contact.cadence.is_(None))
                    )
                )

        async def stop_page(page: dict[str, int]) -> int:
            gone = await to_thread.run_sync(cleared, list(page.values()))
            strays = [wid for wid, cid in page.items() if cid in gone]
            stopped = await asyncio.gather(
                *(stop_recurring_workflow(self.client, wid, "cadence cleared") for wid in strays)
            )
            return sum(stopped)  # one that ended meanwhile needed no stop

        stopped, page = 0, {}
        async for w in self.client.list_workflows(query, page_size=limit):
            page[w.id] = int(w.typed_search_attributes.get(CONTACT_ID) or 0)
            if len(page) >= limit:
                stopped, page = stopped + await stop_page(page), {}
        return stopped + (await stop_page(page) if page else 0)


async def kick_pending(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    timing: DeliveryTiming,
    page: SweepPage,
    owner_id: int | None = None,
) -> SweepResult:
    """The periodic sweep: start the workflow of every (subscription, task) with an event
    still to send and written over a minute ago (a kick lost to a crash or an outage). A
    workflow already running just gets another kick, which changes nothing. `owner_id`
    limits it to one owner's deliveries."""

    def pending() -> list[tuple[int, int, int, int]]:
        with sessions() as session:
            return [
                (r[0], r[1], r[2], r[3])
                for r in session.execute(
                    select(
                        WebhookDelivery.id,
                        WebhookDelivery.subscription_id,
                        WebhookDelivery.task_id,
                        WebhookDelivery.owner_id,
                    )
                    .where(
                        # Retrying too: its workflow may be gone (a kick lost mid-look).
                        WebhookDelivery.status.in_(("pending", "retrying")),
                        WebhookDelivery.created_at < page.now - timedelta(minutes=1),
                        WebhookDelivery.id > page.after_id,
                        *([WebhookDelivery.owner_id == owner_id] if owner_id else []),
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(page.limit)
                )
            ]

    rows = await to_thread.run_sync(pending)
    pairs = {(sub, task): owner for _, sub, task, owner in rows}
    for (sub, task), owner in pairs.items():
        await kick_delivery(client, task_queue, sub, task, owner, timing)
    last = rows[-1][0] if rows else page.after_id
    return SweepResult(
        examined=len(rows), acted=len(pairs), last_id=last, done=len(rows) < page.limit
    )
