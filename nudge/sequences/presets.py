"""The built-in sequences and when their steps fall due (the API plans with it, the
workflow waits with it)."""

from datetime import datetime, timedelta
from typing import Final, get_args

from nudge.core.vocabulary import SequenceType

# Day offsets of each follow-up step, counted from the sequence's start.
SEQUENCE_PRESETS: Final[dict[SequenceType, tuple[int, ...]]] = {
    "standard": (1, 3, 7, 14),
    "aggressive": (1, 2, 4, 7),
    "gentle": (3, 7, 14, 30),
}
assert set(SEQUENCE_PRESETS) == set(get_args(SequenceType))


def sequence_due_times(
    sequence_type: SequenceType, anchor: datetime, start_delay_hours: float
) -> list[datetime]:
    """When each step of a sequence started at ``anchor`` is due (before any pause)."""
    start = anchor + timedelta(hours=start_delay_hours)
    return [start + timedelta(days=d) for d in SEQUENCE_PRESETS[sequence_type]]
