"""Contacts, as the CRM sends them (upsert by your external id)."""

from fastapi import APIRouter, Response, status

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, OwnerDep, SessionDep, SessionsDep, SettingsDep, UnstartedDep
from api.params import IdPath, Limit, Offset
from nudge.contacts.lookup import owned_contact
from nudge.contacts.schemas import ContactIn, ContactOut, ContactPatch
from nudge.contacts.service import update_contact as patch
from nudge.contacts.service import upsert_contact as upsert
from nudge.core.models import Contact
from nudge.core.types import Page
from nudge.platform.listing import page

router = APIRouter(prefix="/api/contacts", tags=["contacts"], route_class=JsonBoundaryRoute)


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
    contact, created = upsert(session, owner.id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return contact


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
    return owned_contact(session, owner.id, contact_id=contact_id)


@router.patch("/{contact_id}/", response_model=ContactOut, responses={404: {}})
async def update_contact(
    contact_id: IdPath,
    body: ContactPatch,
    owner: OwnerDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    unstarted: UnstartedDep,
) -> Contact:
    """Change some fields. A new `status` is recorded as a status change (old → new): it fires
    matching `status_change` rules and tells the contact's running sequences. A `cadence`
    starts or reshapes its recurring check-ins; `"cadence": null` stops them."""
    return await patch(client, sessions, settings.task_queue, owner.id, contact_id, body, unstarted)
