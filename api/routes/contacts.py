"""Contacts, as the CRM sends them (upsert by your external id)."""

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import OwnerDep, SessionDep
from api.pagination import page
from api.params import IdPath, Limit, Offset
from nudge.errors import ContactNotFound
from nudge.models import Contact
from nudge.schemas import ContactIn, ContactOut, Page

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
