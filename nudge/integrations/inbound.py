"""A CRM's webhook in: verified, stored, answered; then applied, each event once.

`receive` checks the provider's signature (401 otherwise), reads the body (422 naming the
field otherwise) and stores the delivery's events in ONE transaction, keyed per connection: a
delivery whose every event is stored already is a 409 (a replay, or a redelivery of one that
was answered), a batch with some new events stores the new ones. Each refusal is counted on
the connection in a transaction of its own; nothing else is written.

Applying (`process_rows`, right after the answer; `process_pending`, the periodic sweep)
claims each pending row with a conditional UPDATE (pending and unclaimed, or claimed longer
than LEASE ago) so twenty concurrent deliveries, a background run and a sweep apply it once.
Then the contact is upserted by the CRM's record id and the status change or activity goes
through `receive_event`, itself idempotent on the event id `{provider}:{integration}:{key}`,
so a row a crashed process left half-done is finished, not doubled. The row ends processed,
ignored (nothing of Nudge's maps to it; `detail` says why) or failed (`detail` says why).
A claimed row keeps status `pending` with `processed_at` as the claim's time.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from anyio import to_thread
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.contacts.schemas import ContactIn
from nudge.contacts.service import upsert_contact
from nudge.core.errors import Conflict, NotFound, TemporalUnavailable
from nudge.core.models import Contact, CrmEvent, InboundEvent, Integration, utcnow
from nudge.core.vocabulary import Provider
from nudge.integrations.providers import (
    Malformed,
    Mappings,
    Plan,
    ProviderEvent,
    Refused,
    interpret,
    parse,
    verify,
)
from nudge.platform.db import transaction, unavailable
from nudge.platform.temporal import away
from nudge.rules.events import EventSpec, Unstarted, receive_event

log = logging.getLogger(__name__)

# A claim older than this is taken to be a dead process's: the sweep applies the row again.
LEASE: Final = timedelta(minutes=5)
NOT_JSON: Final = (
    "malformed payload: the body is not JSON Nudge can store (not UTF-8, not JSON, NaN, NUL "
    "or nested too deep)"
)


@dataclass(frozen=True)
class Delivery:
    """An inbound request as the provider sent it: the signature covers these bytes."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Receipt:
    integration_id: int
    row_ids: list[int]
    duplicates: int


@dataclass(frozen=True)
class _Connection:
    id: int
    owner_id: int
    secret: str


def _connection(
    sessions: sessionmaker[Session], provider: Provider, integration_id: int
) -> _Connection:
    with sessions() as session:
        row = session.get(Integration, integration_id)
        if row is None or row.provider != provider:
            raise NotFound(f"no {provider} integration {integration_id}")
        return _Connection(row.id, row.owner_id, row.secret)


def refuse(
    sessions: sessionmaker[Session], integration_id: int, reason: str, now: datetime
) -> None:
    """Count a refused delivery on its connection, in a transaction of its own."""
    with transaction(sessions) as session:
        session.execute(
            update(Integration)
            .where(Integration.id == integration_id)
            .values(refused=Integration.refused + 1, last_refusal=reason[:500], last_refused_at=now)
        )


def _store(
    sessions: sessionmaker[Session], conn: _Connection, events: list[ProviderEvent], now: datetime
) -> Receipt:
    """The delivery's new events, in one transaction; Refused (409) when none is new."""
    unique: dict[str, ProviderEvent] = {}
    for event in events:
        unique.setdefault(event.dedupe_key, event)
    for _ in range(5):  # a concurrent delivery of the same events wins once, then we see them
        try:
            with transaction(sessions) as session:
                if session.get(Integration, conn.id) is None:
                    raise NotFound(f"integration {conn.id} not found")
                seen = set(
                    session.scalars(
                        select(InboundEvent.dedupe_key).where(
                            InboundEvent.integration_id == conn.id,
                            InboundEvent.dedupe_key.in_(list(unique)),
                        )
                    )
                )
                new = [event for key, event in unique.items() if key not in seen]
                if events and not new:
                    raise Refused(
                        409,
                        f"already received: all {len(events)} event(s) of this delivery were "
                        "received before (a replay or a redelivery); nothing was changed",
                    )
                rows = [
                    InboundEvent(
                        integration_id=conn.id,
                        owner_id=conn.owner_id,
                        dedupe_key=event.dedupe_key,
                        kind=event.kind[:60],
                        payload=event.to_json(),
                        status="pending",
                        received_at=now,
                    )
                    for event in new
                ]
                session.add_all(rows)
                session.flush()
                session.execute(
                    update(Integration)
                    .where(Integration.id == conn.id)
                    .values(received=Integration.received + 1, last_received_at=now)
                )
                return Receipt(conn.id, [row.id for row in rows], len(events) - len(new))
        except IntegrityError:
            continue
    raise Conflict("this delivery kept colliding with concurrent ones; send it again")


def receive(
    sessions: sessionmaker[Session],
    provider: Provider,
    integration_id: int,
    delivery: Delivery,
    *,
    decode: Callable[[bytes], Any],
    now: datetime,
) -> Receipt:
    """Verify, read and store a delivery (blocking: run it in a thread). NotFound (404) for
    an unknown connection or another provider's; Refused (401, 409) and Malformed (422) are
    counted on the connection before they go up, as is whatever `decode` raises."""
    conn = _connection(sessions, provider, integration_id)
    try:
        verify(
            provider, conn.secret, delivery.method, delivery.url, delivery.headers,
            delivery.body, now,
        )  # fmt: skip
    except Refused as err:
        refuse(sessions, conn.id, err.message, now)
        raise
    try:
        document = decode(delivery.body)
    except Exception:
        refuse(sessions, conn.id, NOT_JSON, now)
        raise
    try:
        events = parse(provider, document, delivery.body, delivery.headers)
        return _store(sessions, conn, events, now)
    except Malformed as err:
        refuse(sessions, conn.id, f"malformed payload: {err.message}", now)
        raise
    except Refused as err:
        refuse(sessions, conn.id, err.message, now)
        raise


# ---------------------------------------------------------------------------------------------
# Applying


@dataclass
class _Work:
    row_id: int
    owner_id: int
    integration_id: int
    mappings: Mappings
    event: ProviderEvent
    notes: list[str] = field(default_factory=list)

    @property
    def event_id(self) -> str:
        return f"{self.mappings.provider}:{self.integration_id}:{self.event.dedupe_key}"


def _claim(sessions: sessionmaker[Session], row_id: int, now: datetime) -> _Work | None:
    with transaction(sessions) as session:
        claimed = session.execute(
            update(InboundEvent)
            .where(
                InboundEvent.id == row_id,
                InboundEvent.status == "pending",
                or_(InboundEvent.processed_at.is_(None), InboundEvent.processed_at < now - LEASE),
            )
            .values(processed_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult has rowcount
            return None
        row = session.get(InboundEvent, row_id)
        integration = session.get(Integration, row.integration_id) if row else None
        if row is None or integration is None:
            return None
        return _Work(
            row_id,
            row.owner_id,
            integration.id,
            Mappings.of(integration),
            ProviderEvent.from_json(row.payload),
        )


def _finish(sessions: sessionmaker[Session], row_id: int, status: str, detail: str) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == row_id, InboundEvent.status == "pending")
            .values(status=status, detail=detail[:500], processed_at=utcnow())
        )


def _release(sessions: sessionmaker[Session], row_id: int) -> None:
    """Give the claim back: the next sweep applies the row (Temporal or the database away)."""
    with transaction(sessions) as session:
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == row_id, InboundEvent.status == "pending")
            .values(processed_at=None)
        )


def upsert_from(session: Session, owner_id: int, plan: Plan) -> tuple[Contact, bool]:
    """The plan's contact, created (named by the CRM, or a placeholder) or updated with what
    the CRM sent; its score set when the event carries one."""
    assert plan.external_id is not None
    given = {"external_id"} | {f for f in ("name", "email") if getattr(plan, f)}
    body = ContactIn.model_construct(
        _fields_set=given,
        external_id=plan.external_id,
        name=plan.name or plan.placeholder,
        email=plan.email,
    )
    contact, created = upsert_contact(session, owner_id, body)
    if plan.score is not None and contact.score != plan.score:
        contact.score = plan.score
        session.commit()
    return contact, created


def _upsert(sessions: sessionmaker[Session], owner_id: int, plan: Plan) -> tuple[int, bool]:
    with sessions() as session:
        contact, created = upsert_from(session, owner_id, plan)
        return contact.id, created


def _newer_status(
    sessions: sessionmaker[Session], contact_id: int, at: datetime, event_id: str
) -> datetime | None:
    """When the contact's latest status change (another event's) happened, if after `at`."""
    with sessions() as session:
        latest = session.scalar(
            select(func.max(CrmEvent.occurred_at)).where(
                CrmEvent.contact_id == contact_id,
                CrmEvent.kind == "status_change",
                CrmEvent.event_id != event_id,
            )
        )
    return latest if latest is not None and latest > at else None


async def _apply(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    work: _Work,
    unstarted: Unstarted | None,
) -> tuple[str, str]:
    plan = interpret(work.event, work.mappings)
    if not plan.upsert:
        return "ignored", "; ".join(plan.ignored)
    contact_id, created = await to_thread.run_sync(_upsert, sessions, work.owner_id, plan)
    notes = [f"contact {contact_id} ({plan.external_id}) {'created' if created else 'updated'}"]
    if plan.score is not None:
        notes.append(f"score {plan.score}")
    spec = None
    newer = None
    if plan.status is not None and work.event.occurred_at is not None:
        newer = await to_thread.run_sync(
            _newer_status, sessions, contact_id, work.event.occurred_at, work.event_id
        )
    if newer is not None:
        # CRMs don't promise order (HubSpot says so): a change older than the one applied
        # must not undo it, nor fire rules backwards.
        notes.append(
            f"status {plan.status} ignored: a newer change ({newer.isoformat()}) is applied"
        )
    elif plan.status is not None:
        spec = EventSpec(
            event_id=work.event_id,
            kind="status_change",
            contact_id=contact_id,
            new_status=plan.status,
            occurred_at=work.event.occurred_at,
        )
    elif plan.activity is not None:
        spec = EventSpec(
            event_id=work.event_id,
            kind="activity",
            contact_id=contact_id,
            activity_type=plan.activity,
            occurred_at=work.event.occurred_at,
        )
    if spec is not None:
        result = await receive_event(client, sessions, task_queue, work.owner_id, spec, unstarted)
        what = f"status → {plan.status}" if plan.status else f"activity {plan.activity}"
        fired = len(result.firings) if result is not None else 0
        notes.append(f"{what} (event {work.event_id}, {fired} rule(s) fired)")
    if plan.ignored:
        notes.append("ignored: " + "; ".join(plan.ignored))
    return "processed", "; ".join(notes)


def _transient(err: BaseException) -> bool:
    """Temporal or the database away, or the contact's status racing another change: the
    sweep tries again."""
    return away(err) or unavailable(err) or isinstance(err, TemporalUnavailable | Conflict)


async def process_row(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    row_id: int,
    unstarted: Unstarted | None = None,
) -> bool:
    """Apply one stored event if this call claims it; True when it was applied (or ended
    ignored or failed) here."""
    work = await to_thread.run_sync(_claim, sessions, row_id, utcnow())
    if work is None:
        return False
    try:
        status, detail = await _apply(client, sessions, task_queue, work, unstarted)
    except Exception as err:
        if _transient(err):
            log.warning("inbound event %d waits for the next sweep: %s", row_id, err)
            await to_thread.run_sync(_release, sessions, row_id)
            return False
        log.exception("inbound event %d failed", row_id)
        await to_thread.run_sync(
            _finish, sessions, row_id, "failed", f"{type(err).__name__}: {err}"
        )
        return True
    await to_thread.run_sync(_finish, sessions, row_id, status, detail)
    return True


async def process_rows(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    row_ids: list[int],
    unstarted: Unstarted | None = None,
) -> int:
    """Apply the rows in order (one delivery's events: a creation before its change); how
    many this call applied. Never raises: what it can't apply waits for the sweep."""
    done = 0
    for row_id in row_ids:
        try:
            done += await process_row(client, sessions, task_queue, row_id, unstarted)
        except Exception:
            log.exception("inbound event %d left to the sweep", row_id)
    return done


def _pending(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(InboundEvent.id)
                .where(
                    InboundEvent.status == "pending",
                    or_(
                        InboundEvent.processed_at.is_(None),
                        InboundEvent.processed_at < now - LEASE,
                    ),
                )
                .order_by(InboundEvent.id)
                .limit(limit)
            )
        )


async def process_pending(
    client: Client, sessions: sessionmaker[Session], task_queue: str, limit: int = 500
) -> int:
    """The periodic sweep: apply the pending rows no live process holds (oldest first);
    how many it applied."""
    row_ids = await to_thread.run_sync(_pending, sessions, utcnow(), limit)
    return await process_rows(client, sessions, task_queue, row_ids)
