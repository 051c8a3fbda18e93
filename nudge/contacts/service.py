"""Contacts as the CRM sends them: upsert by external id, and changes that become events
(a new status fires rules and tells sequences; a cadence starts or stops check-ins)."""

import uuid

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.contacts.lookup import owned_contact
from nudge.contacts.schemas import ContactIn, ContactPatch
from nudge.core.ids import status_patch_event_id
from nudge.core.models import Contact
from nudge.platform.db import transaction
from nudge.recurring.service import schedule_recurring, stop_recurring
from nudge.rules.events import EventSpec, Unstarted, finish_unprocessed, receive_event


def upsert_contact(session: Session, owner_id: int, body: ContactIn) -> tuple[Contact, bool]:
    """Create the contact, or update the one with the same external id; True when created."""
    for _ in range(2):  # a concurrent first insert of the same external_id loses once, then updates
        contact = session.scalar(
            select(Contact).where(
                Contact.owner_id == owner_id, Contact.external_id == body.external_id
            )
        )
        created = contact is None
        if contact is None:
            contact = Contact(owner_id=owner_id, external_id=body.external_id)
            session.add(contact)
        # An update changes only what was sent; a new contact takes the defaults too.
        for field, value in body.model_dump(exclude_unset=not created).items():
            setattr(contact, field, value)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return contact, created
    raise RuntimeError("contact upsert lost twice")  # pragma: no cover


async def update_contact(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    owner_id: int,
    contact_id: int,
    body: ContactPatch,
    unstarted: Unstarted | None = None,
) -> Contact:
    """Save the plain fields, then turn a new status into a status-change event and a
    cadence into started (or stopped) check-ins."""
    changes = body.model_dump(exclude_unset=True)
    new_status = changes.pop("status", None)
    cadence_sent, cadence = "cadence" in changes, changes.pop("cadence", None)

    def save() -> None:
        with transaction(sessions) as session:
            contact = owned_contact(session, owner_id, contact_id=contact_id)
            for field, value in changes.items():
                setattr(contact, field, value)

    await to_thread.run_sync(save)
    if new_status is not None:
        spec = EventSpec(
            event_id=status_patch_event_id(contact_id, uuid.uuid4().hex),
            kind="status_change",
            contact_id=contact_id,
            new_status=new_status,
            only_if_changed=True,
        )
        await receive_event(client, sessions, task_queue, owner_id, spec, unstarted)
    # A change whose processing an earlier request left half-done (503) is finished now.
    try:
        await finish_unprocessed(client, sessions, task_queue, owner_id, contact_id)
    except Exception:
        if unstarted is not None:
            unstarted.add(owner_id, contact_id)
        raise
    if cadence_sent and cadence:
        await schedule_recurring(client, sessions, task_queue, owner_id, contact_id, cadence, None)
    elif cadence_sent:
        await stop_recurring(client, sessions, owner_id, contact_id, "cadence cleared")
    return await to_thread.run_sync(_reload, sessions, contact_id)


def _reload(sessions: sessionmaker[Session], contact_id: int) -> Contact:
    with sessions() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact
