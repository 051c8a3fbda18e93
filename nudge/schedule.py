"""Schedule arithmetic shared by the API (to plan) and the workflows (to wait)."""

import calendar
from datetime import datetime, timedelta
from typing import Literal, Protocol, get_args

SequenceType = Literal["standard", "aggressive", "gentle"]

# Day offsets of each follow-up step, counted from the sequence's start.
SEQUENCE_PRESETS: dict[str, tuple[int, ...]] = {
    "standard": (1, 3, 7, 14),
    "aggressive": (1, 2, 4, 7),
    "gentle": (3, 7, 14, 30),
}
assert set(SEQUENCE_PRESETS) == set(get_args(SequenceType))


def sequence_due_times(
    sequence_type: str, anchor: datetime, start_delay_hours: float
) -> list[datetime]:
    """When each step of a sequence started at ``anchor`` is due (before any pause)."""
    start = anchor + timedelta(hours=start_delay_hours)
    return [start + timedelta(days=d) for d in SEQUENCE_PRESETS[sequence_type]]


# A contact that replies, books a meeting or changes to these statuses needs no more nudging.
STOPPING_ACTIVITIES = frozenset({"email_replied", "meeting_booked"})
STOPPING_STATUSES = frozenset({"active", "lost"})


def stop_reason_for(event: "ContactEventLike") -> str | None:
    """Why a contact event ends a sequence, or None when it doesn't."""
    if event.type in STOPPING_ACTIVITIES:
        return f"contact event: {event.type}"
    if event.status in STOPPING_STATUSES:
        return f"contact status changed to {event.status}"
    return None


class ContactEventLike(Protocol):
    type: str
    status: str | None


CADENCE_MONTHS = {"monthly": 1, "quarterly": 3}
CADENCE_DAYS = {"daily": 1, "weekly": 7, "biweekly": 14}


def _add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, keeping the day where it exists: Jan 31 + 1 → Feb 28 (or 29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def occurrence(anchor: datetime, cadence: str, n: int) -> datetime:
    """The n-th occurrence after `anchor` (n = 1 is one period later). Always counted from the
    anchor, never from the previous occurrence, so Jan 31 → Feb 28 → Mar 31, not Mar 28."""
    if cadence in CADENCE_DAYS:
        return anchor + timedelta(days=CADENCE_DAYS[cadence] * n)
    return _add_months(anchor, CADENCE_MONTHS[cadence] * n)
