"""CRM events in: store once, fire matching rules, tell the contact's running sequences.

An event row is written (with its firings and the rules' `times_triggered`) in one
transaction keyed on the CRM's event id, so redeliveries and concurrent duplicates find it.
Workflows start and sequences are told after the commit, then the event is marked processed.
If that fails (Temporal down: 503), a redelivery of the same event id, or the contact's next
PATCH, finishes the job: starts are idempotent, so a CRM retrying on 503 loses nothing.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from anyio import to_thread
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from nudge.contracts import ContactEvent, FiringInput
from nudge.db import transaction
from nudge.errors import Conflict, NotFound
from nudge.models import BatchStatus, Contact, CrmEvent, Rule, RuleFiring, TaskBatch, utcnow
from nudge.rule_tasks import event_context, timing
from nudge.starts import start_rule_firing
from nudge.triggers import matches
from workflows.recurring import recurring_workflow_id


@dataclass
class EventSpec:
    event_id: str
    kind: str  # activity | status_change
    contact_id: int | None = None
    contact_external_id: str | None = None
    activity_type: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    occurred_at: datetime | None = None
    only_if_changed: bool = False  # PATCH: a status equal to the current one is no event


@dataclass
class Firing:
    id: int
    rule_id: int | None
    rule_name: str
    workflow_id: str
    state: str
    reason: str | None
    task_id: int | None
    contact_id: int | None
    create_at: datetime
    due_at: datetime
    created_at: datetime


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
    firings: list[Firing]
    sequences_signalled: list[str] = field(default_factory=list)


class _StatusRace(Exception):
    """Another request changed the contact's status between our read and our write."""


def _contact(session: Session, owner_id: int, spec: EventSpec) -> Contact:
    where = (
        Contact.id == spec.contact_id
        if spec.contact_id is not None
        else Contact.external_id == spec.contact_external_id
    )
    contact = session.scalar(select(Contact).where(Contact.owner_id == owner_id, where))
    if contact is None:
        ref = spec.contact_id if spec.contact_id is not None else repr(spec.contact_external_id)
        raise NotFound(f"contact {ref} not found (create it with POST /api/contacts/)")
    return contact


def _firings(session: Session, event: CrmEvent) -> list[Firing]:
    rows = session.execute(
        select(RuleFiring, Rule.name)
        .outerjoin(Rule, Rule.id == RuleFiring.rule_id)
        .where(RuleFiring.event_row_id == event.id)
        .order_by(RuleFiring.id)
    )
    return [
        Firing(
            f.id,
            f.rule_id,
            name or "(deleted rule)",
            f.workflow_id,
            f.state,
            f.reason,
            f.task_id,
            f.contact_id,
            f.create_at,
            f.due_at,
            f.created_at,
        )
        for f, name in rows
    ]


def _result(session: Session, event: CrmEvent, *, duplicate: bool) -> EventResult:
    return EventResult(
        row_id=event.id,
        event_id=event.event_id,
        contact_id=event.contact_id,
        kind=event.kind,
        owner_id=event.owner_id,
        duplicate=duplicate,
        processed=event.processed_at is not None,
        signal=ContactEvent(type=event.activity_type or "status_change", status=event.new_status),
        firings=_firings(session, event),
    )


def _insert(session: Session, owner_id: int, spec: EventSpec) -> CrmEvent | None:
    contact = _contact(session, owner_id, spec)
    old, new = spec.old_status, spec.new_status
    if spec.kind == "status_change":
        current = contact.status
        if spec.only_if_changed and current == new:
            return None
        old = old or current
        if new != current:
            # Conditional on what we read, so two concurrent changes can't both see "lead".
            values: dict = {"status": new, "updated_at": utcnow()}
            if new in ("lost", "inactive"):
                values["cadence"] = None  # no more check-ins, and the reconcile agrees
            changed = session.execute(
                update(Contact)
                .where(Contact.id == contact.id, Contact.status == current)
                .values(**values)
            )
            if changed.rowcount != 1:
                raise _StatusRace
    event = CrmEvent(
        owner_id=owner_id,
        event_id=spec.event_id,
        contact_id=contact.id,
        kind=spec.kind,
        activity_type=spec.activity_type,
        old_status=old,
        new_status=new,
        occurred_at=spec.occurred_at or utcnow(),
    )
    session.add(event)
    session.flush()  # a duplicate event id fails here, before any firing
    if spec.kind == "status_change" and old == new:
        return event  # recorded, but nothing changed: no rule fires
    context = event_context(
        contact, activity_type=spec.activity_type, old_status=old, new_status=new
    )
    rules = session.scalars(
        select(Rule).where(
            Rule.owner_id == owner_id, Rule.is_active.is_(True), Rule.trigger_type == spec.kind
        )
    )
    for rule in rules:
        if not matches(
            rule.trigger_type,
            rule.trigger_config,
            activity_type=spec.activity_type,
            old_status=old,
            new_status=new,
        ):
            continue
        create_at, due_at, reminder_at = timing(rule, event.occurred_at)
        session.add(
            RuleFiring(
                owner_id=owner_id,
                rule_id=rule.id,
                event_row_id=event.id,
                contact_id=contact.id,
                workflow_id=f"rule-{rule.id}-{event.id}",
                create_at=create_at,
                due_at=due_at,
                reminder_at=reminder_at,
                context=context,
            )
        )
        # Counted in the transaction that adds the firing: a duplicate event counts nothing.
        session.execute(
            update(Rule)
            .where(Rule.id == rule.id)
            .values(times_triggered=Rule.times_triggered + 1, last_fired_at=utcnow())
        )
    session.flush()
    return event


def _store(sessions: sessionmaker[Session], owner_id: int, spec: EventSpec) -> EventResult | None:
    for _ in range(5):
        try:
            with transaction(sessions) as session:
                event = _insert(session, owner_id, spec)
                return None if event is None else _result(session, event, duplicate=False)
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


def _running_sequences(
    sessions: sessionmaker[Session], owner_id: int, contact_id: int
) -> list[str]:
    """Sequences and enrollments (by their batches) and the recurring check-ins."""
    recurring = [recurring_workflow_id(owner_id, contact_id)]
    with sessions() as session:
        return recurring + list(
            session.scalars(
                select(TaskBatch.workflow_id).where(
                    TaskBatch.owner_id == owner_id,
                    TaskBatch.contact_id == contact_id,
                    TaskBatch.kind.in_(("sequence", "campaign")),
                    TaskBatch.status == BatchStatus.running,
                )
            )
        )


async def tell_sequences(
    client: Client,
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    event: ContactEvent,
) -> list[str]:
    """Signal the contact's running sequences and campaign enrollments (a reply or a status
    change can end them); one that just ended is no error."""
    told = []
    for workflow_id in await to_thread.run_sync(_running_sequences, sessions, owner_id, contact_id):
        try:
            await client.get_workflow_handle(workflow_id).signal("contact_event", event)
            told.append(workflow_id)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return told


def _mark_processed(sessions: sessionmaker[Session], row_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(CrmEvent)
            .where(CrmEvent.id == row_id, CrmEvent.processed_at.is_(None))
            .values(processed_at=utcnow())
        )


async def _process(
    client: Client, sessions: sessionmaker[Session], task_queue: str, result: EventResult
) -> None:
    """Start the event's pending firings and tell its sequences, once it all succeeded."""
    if result.processed:
        return
    pending = [f for f in result.firings if f.state == "scheduled" and f.rule_id and f.contact_id]
    await asyncio.gather(
        *(
            start_rule_firing(
                client,
                task_queue,
                FiringInput(
                    firing_id=f.id,
                    rule_id=f.rule_id,  # type: ignore[arg-type]
                    owner_id=result.owner_id,
                    contact_id=f.contact_id,  # type: ignore[arg-type]
                    create_at=f.create_at,
                    due_at=f.due_at,
                ),
                f.workflow_id,
                f.rule_name,
            )
            for f in pending
        )
    )
    if result.contact_id is not None:
        result.sequences_signalled = await tell_sequences(
            client, sessions, result.owner_id, result.contact_id, result.signal
        )
    await to_thread.run_sync(_mark_processed, sessions, result.row_id)
    result.processed = True


async def receive_event(
    client: Client, sessions: sessionmaker[Session], task_queue: str, owner_id: int, spec: EventSpec
) -> EventResult | None:
    """None only for a PATCH whose status is what the contact already has."""
    result = await to_thread.run_sync(_store, sessions, owner_id, spec)
    if result is not None:
        await _process(client, sessions, task_queue, result)
    return result


def _unprocessed(
    sessions: sessionmaker[Session], owner_id: int, contact_id: int
) -> list[EventResult]:
    with sessions() as session:
        events = session.scalars(
            select(CrmEvent).where(
                CrmEvent.owner_id == owner_id,
                CrmEvent.contact_id == contact_id,
                CrmEvent.processed_at.is_(None),
            )
        )
        return [_result(session, e, duplicate=True) for e in events]


async def finish_unprocessed(
    client: Client, sessions: sessionmaker[Session], task_queue: str, owner_id: int, contact_id: int
) -> None:
    """Finish the contact's events whose first processing failed half-way (e.g. a 503)."""
    for result in await to_thread.run_sync(_unprocessed, sessions, owner_id, contact_id):
        await _process(client, sessions, task_queue, result)
