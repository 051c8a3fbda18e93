"""Finding one of an owner's contacts: the one lookup every service uses, so another owner's
contact is "not found" everywhere, with the same message."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.core.errors import ContactNotFound
from nudge.core.models import Contact


def owned_contact(
    session: Session,
    owner_id: int,
    *,
    contact_id: int | None = None,
    external_id: str | None = None,
) -> Contact:
    """By Nudge's id or by the CRM's external id; ContactNotFound (404) otherwise."""
    if contact_id is not None:
        where = Contact.id == contact_id
    else:
        where = Contact.external_id == external_id
    contact = session.scalar(select(Contact).where(Contact.owner_id == owner_id, where))
    if contact is None:
        raise ContactNotFound(contact_id if contact_id is not None else repr(external_id))
    return contact


def contact_names(session: Session, owner_id: int, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the owner's contacts among `ids` (for showing names beside ids)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(
        select(Contact.id, Contact.name).where(Contact.id.in_(wanted), Contact.owner_id == owner_id)
    )
    return {row.id: row.name for row in rows}
