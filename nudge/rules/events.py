"""CRM events in: store once, fire matching rules, tell the contact's running sequences.

An event row is written (with its firings and the rules' `times_triggered`) in one
transaction keyed on the CRM's event id, so redeliveries and concurrent duplicates find it.
Workflows start and sequences are told after the commit, then the event is marked processed.
If that fails (Temporal down: 503), the API process retries it by itself every few seconds
(`Unstarted`) until Temporal answers again; a redelivery of the same event id, or the contact's
next PATCH, finishes it too, and so does the automation reconcile for a process that died
holding some. Starts are idempotent, so none of these can double a task.
"""

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from anyio import to_thread
from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.calendar.placing import placer_for
from nudge.campaigns.starts import tell_enrollment
from nudge.contacts.lookup import owned_contact
from nudge.core.contact_events import ContactEvent, ends_cadence, ends_sequence
from nudge.core.errors import Conflict
from nudge.core.ids import DEFINED_SEQUENCE, recurring_workflow_id, rule_firing_workflow_id
from nudge.core.models import Contact, CrmEvent, Rule, RuleFiring, TaskBatch, utcnow
from nudge.core.vocabulary import BatchKind, ContactStatus, EventKind
from nudge.platform import metrics
from nudge.platform.db import transaction, unavailable
from nudge.platform.temporal import away
from nudge.recurring.starts import tell_recurring
from nudge.rules.payloads import FiringInput
from nudge.rules.render import Timing, event_context, timing
from nudge.rules.schemas import FiringOut
from nudge.rules.starts import start_rule_firing
from nudge.rules.triggers import matches
from nudge.sequences.starts import tell_sequence

log = logging.getLogger(__name__)


@dataclass
class EventSpec:
    event_id: str
    kind: EventKind
    contact_id: int | None = None
    contact_external_id: str | None = None
    activity_type: str | None = None
    old_status: ContactStatus | None = None
    new_status: ContactStatus | None = None
    occurred_at: datetime | None = None
    only_if_changed: bool = False  # PATCH: a status equal to the current one is no event


@dataclass
class EventResult:
    row_id: int
    event_id: str
    contact_id: int | None
    kind: str
    owner_id: int
    duplicate: bool
    processed: bool
    signal: ContactEvent
    firings: list[FiringOut]
    rule_names: dict[int, str]  # for the firing workflows' summaries
    # (kind, workflow id) of what to tell, read in the transaction that stored the event.
    running: list[tuple[str, str]] = field(default_factory=list)
    sequences_signalled: list[str] = field(default_factory=list)


class _StatusRace(Exception):
    """Another request changed the contact's status between our read and our write."""


def _firings(session: Session, event: CrmEvent) -> tuple[list[FiringOut], dict[int, str]]:
    rows = session.execute(
        select(RuleFiring, Rule.name)
        .outerjoin(Rule, Rule.id == RuleFiring.rule_id)
        .where(RuleFiring.event_row_id == event.id)
        .order_by(RuleFiring.id)
    ).all()
    names = {f.rule_id: name for f, name in rows if f.rule_id is not None and name is not None}
    return [FiringOut.of(f, event.event_id) for f, _ in rows], names


def _result(
    session: Session,
    event: CrmEvent,
    *,
    duplicate: bool,
    firings: tuple[list[FiringOut], dict[int, str]] | None = None,
    recurring: bool = True,
    running: list[tuple[str, str]] | None = None,
) -> EventResult:
    """`firings`: the ones just added (else read back); `recurring` False: the contact had
    no cadence when the event came, so no check-ins to tell; `running`: the contact's
    running workflows, when already read (else read here)."""
    found, names = firings if firings is not None else _firings(session, event)
    contact_id, done = event.contact_id, event.processed_at is not None
    signal = ContactEvent(type=event.activity_type or "status_change", status=event.new_status)
    if contact_id is None or done:
        running = []
    elif running is None:
        running = _running(session, event.owner_id, contact_id)
    running = [
        (kind, wid)
        for kind, wid in running
        if (recurring or kind != "recurring") and _can_end(kind, wid, signal)
    ]
    return EventResult(
        row_id=event.id,
        event_id=event.event_id,
        contact_id=event.contact_id,
        kind=event.kind,
        owner_id=event.owner_id,
        duplicate=duplicate,
        processed=event.processed_at is not None,
        signal=signal,
        firings=found,
        rule_names=names,
        running=running,
    )


RULES: Table = Rule.__table__  # type: ignore[assignment]


@dataclass
class _Inserted:
    event: CrmEvent
    firings: list[RuleFiring]
    rule_names: dict[int, str]
    had_cadence: bool  # before this event: a status change may just have cleared it
    running: list[tuple[str, str]]  # read before the event was written


def _insert(session: Session, owner_id: int, spec: EventSpec) -> _Inserted | None:
    """Everything is read and worked out first, then written in one burst: on SQLite the
    first write takes the database's one write lock until the commit, so every other
    request's write waits out whatever this one does in between."""
    contact = owned_contact(
        session, owner_id, contact_id=spec.contact_id, external_id=spec.contact_external_id
    )
    old, new = spec.old_status, spec.new_status
    had_cadence = contact.cadence is not None
    status_update = None
    if spec.kind == "status_change":
        current = contact.status
        if spec.only_if_changed and current == new:
            return None
        old = old or current
        if new != current:
            # Conditional on what we read, so two concurrent changes can't both see "lead".
            values: dict = {"status": new, "updated_at": utcnow()}
            if ends_cadence(ContactEvent(type="status_change", status=new)):
                values["cadence"] = None  # no more check-ins, and the reconcile agrees
            status_update = (
                update(Contact)
                .where(Contact.id == contact.id, Contact.status == current)
                .values(**values)
            )
    occurred_at = spec.occurred_at or utcnow()
    fire: list[tuple[Rule, Timing]] = []
    context: dict = {}
    if not (spec.kind == "status_change" and old == new):  # else recorded, but nothing fires
        context = event_context(
            contact, activity_type=spec.activity_type, old_status=old, new_status=new
        )
        rules = session.scalars(
            select(Rule).where(
                Rule.owner_id == owner_id, Rule.is_active.is_(True), Rule.trigger_type == spec.kind
            )
        ).all()
        place = placer_for(session, owner_id, contact, utcnow())
        for rule in rules:
            if matches(
                rule.trigger_type,
                rule.trigger_config,
                activity_type=spec.activity_type,
                old_status=old,
                new_status=new,
            ):
                fire.append((rule, timing(rule, occurred_at, place)))
    running = _running(session, owner_id, contact.id)

    # Writes from here on.
    if status_update is not None:
        changed = session.execute(status_update)
        if changed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult has rowcount
            raise _StatusRace
    event = CrmEvent(
        owner_id=owner_id,
        event_id=spec.event_id,
        contact_id=contact.id,
        kind=spec.kind,
        activity_type=spec.activity_type,
        old_status=old,
        new_status=new,
        occurred_at=occurred_at,
    )
    session.add(event)
    session.flush()  # a duplicate event id fails here, before any firing
    inserted = _Inserted(event, [], {}, had_cadence, running)
    for rule, (create_at, due_at, reminder_at, _) in fire:
        firing = RuleFiring(
            owner_id=owner_id,
            rule_id=rule.id,
            event_row_id=event.id,
            contact_id=contact.id,
            workflow_id=rule_firing_workflow_id(rule.id, event.id),
            create_at=create_at,
            due_at=due_at,
            reminder_at=reminder_at,
            context=context,
        )
        session.add(firing)
        inserted.firings.append(firing)
        inserted.rule_names[rule.id] = rule.name
        # Counted in the transaction that adds the firing: a duplicate event counts nothing.
        # On the table, not through the ORM: its bulk UPDATE autoflushes and synchronizes
        # the session first, a sixth of this request's CPU for one counter.
        session.connection().execute(
            update(RULES)
            .where(RULES.c.id == rule.id)
            .values(times_triggered=RULES.c.times_triggered + 1, last_fired_at=utcnow())
        )
    session.flush()
    return inserted


def _store(sessions: sessionmaker[Session], owner_id: int, spec: EventSpec) -> EventResult | None:
    for _ in range(5):
        try:
            # One transaction: the event, its firings, and what to tell afterwards.
            with transaction(sessions) as session:
                new = _insert(session, owner_id, spec)
                if new is None:
                    return None
                out = [FiringOut.of(f, new.event.event_id) for f in new.firings]
                return _result(
                    session,
                    new.event,
                    duplicate=False,
                    firings=(out, new.rule_names),
                    recurring=new.had_cadence,
                    running=new.running,
                )
        except _StatusRace:
            continue
        except IntegrityError:
            with sessions() as session:
                event = session.scalar(
                    select(CrmEvent).where(
                        CrmEvent.owner_id == owner_id, CrmEvent.event_id == spec.event_id
                    )
                )
                if event is None:
                    raise
                return _result(session, event, duplicate=True)
    raise Conflict("the contact's status kept changing under this request; send it again")


def _running(session: Session, owner_id: int, contact_id: int) -> list[tuple[str, str]]:
    """(kind, workflow id) of the contact's sequences and enrollments (by their running
    batches) and its recurring check-ins."""
    batches = session.execute(
        select(TaskBatch.kind, TaskBatch.workflow_id).where(
            TaskBatch.owner_id == owner_id,
            TaskBatch.contact_id == contact_id,
            TaskBatch.kind.in_(get_args(BatchKind)),
            TaskBatch.status == "running",
        )
    ).all()
    return [("recurring", recurring_workflow_id(owner_id, contact_id))] + [
        (kind, workflow_id) for kind, workflow_id in batches
    ]


def _can_end(kind: str, workflow_id: str, event: ContactEvent) -> bool:
    """Only a workflow the event can end is told: a signal wakes it (a workflow task, a
    replay when it has left the worker's cache) and stays in its history for good, and an
    open or a click, most events, ends none. The policy is the workflows' own; a defined
    sequence's exits are its definition's, so it decides itself."""
    if kind == "recurring":
        return ends_cadence(event) is not None
    if DEFINED_SEQUENCE.parse(workflow_id) is not None:
        return True
    return ends_sequence(event) is not None


TELL = {"sequence": tell_sequence, "campaign": tell_enrollment, "recurring": tell_recurring}


async def _tell(client: Client, running: list[tuple[str, str]], event: ContactEvent) -> list[str]:
    """Signal the contact's running sequences, campaign enrollments and check-ins (a reply or
    a status change can end them), all at once; one that just ended is no error."""
    told = await asyncio.gather(
        *(TELL[kind](client, workflow_id, event) for kind, workflow_id in running)
    )
    return [workflow_id for (_, workflow_id), ok in zip(running, told, strict=True) if ok]


def _mark_processed(sessions: sessionmaker[Session], row_ids: list[int]) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(CrmEvent)
            .where(CrmEvent.id.in_(row_ids), CrmEvent.processed_at.is_(None))
            .values(processed_at=utcnow())
        )


class _Marks:
    """Events marked processed a round at a time: one UPDATE for every request that finished
    its starts meanwhile (a group commit), so under load a request costs one write
    transaction, not two queued for the database's writer. Each still answers only after
    its own mark committed."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.loop = asyncio.get_running_loop()
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.rounds: asyncio.Task[None] | None = None

    async def mark(self, row_id: int) -> None:
        done = self.waiting.get(row_id) or self.loop.create_future()
        self.waiting[row_id] = done
        if self.rounds is None or self.rounds.done():
            self.rounds = self.loop.create_task(self._rounds())
        await asyncio.shield(done)  # a request that goes away leaves the round to the others

    async def _rounds(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, {}
            try:
                await to_thread.run_sync(_mark_processed, self.sessions, list(batch))
            except Exception as err:
                for future in batch.values():
                    if not future.done():
                        future.set_exception(err)
            else:
                for future in batch.values():
                    if not future.done():
                        future.set_result(None)


_MARKS: "weakref.WeakKeyDictionary[sessionmaker[Session], _Marks]" = weakref.WeakKeyDictionary()


async def _mark(sessions: sessionmaker[Session], row_id: int) -> None:
    marks = _MARKS.get(sessions)
    if marks is None or marks.loop is not asyncio.get_running_loop():
        marks = _MARKS[sessions] = _Marks(sessions)
    await marks.mark(row_id)


async def _process(
    client: Client, sessions: sessionmaker[Session], task_queue: str, result: EventResult
) -> None:
    """Start the event's pending firings and tell its sequences (all at once: they are
    separate workflows), once it all succeeded."""
    if result.processed:
        return
    starting = asyncio.gather(
        *(
            start_rule_firing(
                client,
                task_queue,
                FiringInput(
                    firing_id=f.id,
                    rule_id=f.rule_id,
                    owner_id=result.owner_id,
                    contact_id=f.contact_id,
                    create_at=f.create_at,
                    due_at=f.due_at,
                ),
                f.workflow_id,  # as stored with the firing
                result.rule_names.get(f.rule_id, "(deleted rule)"),
            )
            for f in result.firings
            if f.state == "scheduled" and f.rule_id is not None and f.contact_id is not None
        )
    )
    _, result.sequences_signalled = await asyncio.gather(
        starting, _tell(client, result.running, result.signal)
    )
    await _mark(sessions, result.row_id)
    result.processed = True


class Unstarted:
    """The contacts whose stored events this process could not start (Temporal away).

    `run` retries them every `interval` seconds until Temporal answers again, so an event a
    CRM sent during an outage has its firing started seconds after Temporal's return without
    being sent again. In memory on purpose: the retry needs no table and no polling, and an
    API process that dies holding some leaves them to the automation reconcile.
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._contacts: dict[tuple[int, int], None] = {}  # (owner, contact), oldest first

    def __len__(self) -> int:
        return len(self._contacts)

    def add(self, owner_id: int, contact_id: int) -> None:
        self._contacts[(owner_id, contact_id)] = None
        metrics.EVENTS_UNSTARTED.set(len(self._contacts))

    async def retry(self, client: Client, sessions: sessionmaker[Session], task_queue: str) -> int:
        """Finish what can be finished now; stop at the first sign that Temporal or the
        database is still away and keep the rest for the next round. A contact whose events
        fail for another reason is left to the automation reconcile, so it can't hold up the
        others. Returns how many are left."""
        for key in list(self._contacts):
            # Off the list while it runs: an event of the same contact that fails meanwhile
            # adds it again, and is retried next round.
            self._contacts.pop(key, None)
            try:
                await finish_unprocessed(client, sessions, task_queue, *key)
            except Exception as err:
                if away(err) or unavailable(err):
                    self._contacts.setdefault(key, None)
                    log.warning(
                        "%d contacts' events still wait for Temporal: %s", len(self._contacts), err
                    )
                    break
                log.exception("stored events of contact %d left to the reconcile", key[1])
        metrics.EVENTS_UNSTARTED.set(len(self._contacts))
        return len(self._contacts)

    async def run(self, client: Client, sessions: sessionmaker[Session], task_queue: str) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._contacts:
                await self.retry(client, sessions, task_queue)


async def receive_event(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    owner_id: int,
    spec: EventSpec,
    unstarted: Unstarted | None = None,
) -> EventResult | None:
    """None only for a PATCH whose status is what the contact already has. An event stored
    but not started is left with `unstarted` (when given) before the error goes up."""
    result = await to_thread.run_sync(_store, sessions, owner_id, spec)
    if result is not None:
        # Stored (or found stored): counted before the starts, which may fail with a 503.
        duplicate = "true" if result.duplicate else "false"
        metrics.EVENTS_RECEIVED.labels(spec.kind, duplicate).inc()
        try:
            await _process(client, sessions, task_queue, result)
        except Exception:
            if unstarted is not None and result.contact_id is not None:
                unstarted.add(owner_id, result.contact_id)
            raise
    return result


def _unprocessed(
    sessions: sessionmaker[Session], owner_id: int, contact_id: int
) -> list[EventResult]:
    with sessions() as session:
        events = session.scalars(
            select(CrmEvent)
            .where(
                CrmEvent.owner_id == owner_id,
                CrmEvent.contact_id == contact_id,
                CrmEvent.processed_at.is_(None),
            )
            .order_by(CrmEvent.id)  # as they arrived: status changes signal in order
        )
        return [_result(session, e, duplicate=True) for e in events]


async def finish_unprocessed(
    client: Client, sessions: sessionmaker[Session], task_queue: str, owner_id: int, contact_id: int
) -> None:
    """Finish the contact's events whose first processing failed half-way (e.g. a 503)."""
    for result in await to_thread.run_sync(_unprocessed, sessions, owner_id, contact_id):
        await _process(client, sessions, task_queue, result)
