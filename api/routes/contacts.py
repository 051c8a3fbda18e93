"""Contacts, as the CRM sends them (upsert by your external id)."""

import uuid

from anyio import to_thread
from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep
from api.pagination import page
from api.params import IdPath, Limit, Offset
from nudge.db import transaction
from nudge.errors import ContactNotFound
from nudge.events import EventSpec, finish_unprocessed, receive_event
from nudge.models import Contact
from nudge.recurring import schedule_recurring, stop_recurring
from nudge.schemas import ContactIn, ContactOut, ContactPatch, Page

router = APIRouter(prefix="/api/contacts", tags=["contacts"])


@router.post(
    "/",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ContactOut, "description": "An existing contact was updated."}},
)
def upsert_contact(
    body: ContactIn, owner: OwnerDep, session: SessionDep, response: Response
) -> Contact:
    """Create the contact, or update the one with the same `external_id` (then 200)."""
    for _ in range(2):  # a concurrent first insert of the same external_id loses once, then updates
        contact = session.scalar(
            select(Contact).where(
                Contact.owner_id == owner.id, Contact.external_id == body.external_id
            )
        )
        created = contact is None
        if contact is None:
            contact = Contact(owner_id=owner.id, external_id=body.external_id)
            session.add(contact)
        # An update changes only what was sent; a new contact takes the defaults too.
        for field, value in body.model_dump(exclude_unset=not created).items():
            setattr(contact, field, value)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        if not created:
            response.status_code = status.HTTP_200_OK
        return contact
    raise RuntimeError("contact upsert lost twice")  # pragma: no cover


@router.get("/", response_model=Page[ContactOut])
def list_contacts(
    owner: OwnerDep,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Your contacts, newest first."""
    items, total = page(
        session, Contact, [Contact.owner_id == owner.id], [Contact.id.desc()], limit, offset
    )
    return {"items": items, "total": total}


@router.get("/{contact_id}/", response_model=ContactOut, responses={404: {}})
def get_contact(contact_id: IdPath, owner: OwnerDep, session: SessionDep) -> Contact:
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.owner_id == owner.id)
    )
    if contact is None:
        raise ContactNotFound(contact_id)
    return contact


@router.patch("/{contact_id}/", response_model=ContactOut, responses={404: {}})
async def update_contact(
    contact_id: IdPath,
    body: ContactPatch,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> Contact:
    """Change some fields. A new `status` is recorded as a status change (old → new): it fires
    matching `status_change` rules and tells the contact's running sequences. A `cadence`
    starts or reshapes its recurring check-ins; `"cadence": null` stops them."""
    changes = body.model_dump(exclude_unset=True)
    new_status = changes.pop("status", None)
    cadence_sent, cadence = "cadence" in changes, changes.pop("cadence", None)

    def save() -> Contact:
        with transaction(sessions) as session:
            contact = session.scalar(
                select(Contact).where(Contact.id == contact_id, Contact.owner_id == owner.id)
            )
            if contact is None:
                raise ContactNotFound(contact_id)
            for field, value in changes.items():
                setattr(contact, field, value)
            return contact

    await to_thread.run_sync(save)
    if new_status is not None:
        spec = EventSpec(
            event_id=f"contact-{contact_id}-status-{uuid.uuid4().hex}",
            kind="status_change",
            contact_id=contact_id,
            new_status=new_status,
            only_if_changed=True,
        )
        await receive_event(client, sessions, settings.task_queue, owner.id, spec)
    # A change whose processing an earlier request left half-done (503) is finished now.
    await finish_unprocessed(client, sessions, settings.task_queue, owner.id, contact_id)
    if cadence_sent and cadence:
        await schedule_recurring(
            client, sessions, settings.task_queue, owner.id, contact_id, cadence, None
        )
    elif cadence_sent:
        await stop_recurring(client, sessions, owner.id, contact_id, "cadence cleared")
    return await to_thread.run_sync(_reload, sessions, contact_id)


def _reload(sessions: sessionmaker[Session], contact_id: int) -> Contact:
    with sessions() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact
