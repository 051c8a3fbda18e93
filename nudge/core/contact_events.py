"""What a contact event means to a running workflow: the signal's payload, and whether it
ends a sequence, an enrollment or recurring check-ins (one policy for all of them)."""

from pydantic import BaseModel

from nudge.core.vocabulary import (
    CADENCE_ENDING_STATUSES,
    SEQUENCE_ENDING_ACTIVITIES,
    SEQUENCE_ENDING_STATUSES,
)


class ContactEvent(BaseModel):
    """The `contact_event` signal: an activity type, or "status_change" with the new status."""

    type: str
    status: str | None = None


def ends_sequence(event: ContactEvent) -> str | None:
    """Why the event ends a sequence or campaign enrollment, or None when it doesn't."""
    if event.type in SEQUENCE_ENDING_ACTIVITIES:
        return f"contact event: {event.type}"
    if event.status in SEQUENCE_ENDING_STATUSES:
        return f"contact status changed to {event.status}"
    return None


def ends_cadence(event: ContactEvent) -> str | None:
    """Why the event ends recurring check-ins, or None when it doesn't."""
    if event.status in CADENCE_ENDING_STATUSES:
        return f"contact status changed to {event.status}"
    return None
