"""What the page's forms share: numbers as typed and back, a pydantic problem worded for the
field it is shown beside, a chosen contact's id, the owner's contacts to choose from, and
the placements a rule or a step offers, in words."""

import re

from pydantic_core import ErrorDetails
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.params import MAX_ID
from nudge.core.models import Contact
from nudge.core.vocabulary import Placement

CONTACTS_SHOWN = 200
# Where a due time may land, as a select offers it (the API's words are the values).
PLACEMENTS: dict[Placement, str] = {
    "anytime": "any time (where the wait ends)",
    "working_hours": "in your working hours",
    "contact_hours": "in the contact's working hours (their time zone)",
    "best_time": "at the contact's best time (else their working hours)",
}


def number_text(value: float | None) -> str:
    """A stored number as a form shows it: 4, not 4.0; nothing for None."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def typed_number(text: str) -> float | str:
    """A form field as the JSON number the API takes; text that isn't one stays text, for the
    model to name the field."""
    try:
        return float(text)
    except ValueError:
        return text


def problem_message(problem: ErrorDetails, field: str) -> str:
    """Shown beside its field, so the field's name need not open the message."""
    return problem["msg"].removeprefix("Value error, ").removeprefix(f"{field}: ")


def chosen_id(text: str) -> int | None:
    """A contact (or other row) picked in a form: a positive id, or None for anything else."""
    if re.fullmatch(r"[1-9][0-9]{0,9}", text) and int(text) <= MAX_ID:
        return int(text)
    return None


def owner_contacts(sessions: sessionmaker[Session], owner_id: int) -> list[tuple[int, str]]:
    """(id, name) of the owner's first contacts by name: the choices of a contact select."""
    with sessions() as session:
        rows = session.execute(
            select(Contact.id, Contact.name)
            .where(Contact.owner_id == owner_id)
            .order_by(Contact.name, Contact.id)
            .limit(CONTACTS_SHOWN)
        )
        return [(row.id, row.name) for row in rows]
