"""A contact's best send time: the hour of the week (in their zone) in which most of their
recent engagements happened, or None while there are too few to tell."""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from nudge.calendar.timing import BestHour, zone_info
from nudge.core.vocabulary import WEEKDAYS

# Things the contact did, at a moment they chose: each says they were at their desk then.
# Page visits are left out: they are anonymous until identified, come in bursts from one
# session, and are often a crawler or a link preview rather than a person.
ENGAGEMENT_TYPES: Final = frozenset(
    {
        "email_opened",
        "email_clicked",
        "email_replied",
        "call_logged",
        "meeting_booked",
        "form_submitted",
    }
)
# Fewer than this and one busy afternoon would decide the hour.
MIN_EVENTS: Final = 5
# Habits change: a quarter is recent enough to hold and long enough to fill.
LOOKBACK: Final = timedelta(days=90)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def best_hour(events: Iterable[tuple[datetime, str]], zone: str, now: datetime) -> BestHour | None:
    """The busiest hour-of-week of the engagements in LOOKBACK before now, read in `zone`;
    a tie goes to the earliest in the week (Monday 00:00 first), so the answer is stable.
    Raises ValueError for a zone the installed tzdata lacks."""
    tz = zone_info(zone)
    now = _utc(now)
    since = now - LOOKBACK
    counts: Counter[tuple[int, int]] = Counter()
    for occurred_at, kind in events:
        if kind not in ENGAGEMENT_TYPES:
            continue
        at = _utc(occurred_at)
        if since <= at <= now:
            local = at.astimezone(tz)
            counts[(local.weekday(), local.hour)] += 1
    total = counts.total()
    if total < MIN_EVENTS:
        return None
    (weekday, hour), count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    return BestHour(weekday=WEEKDAYS[weekday], hour=hour, count=count, total=total, zone=zone)


def explain_fallback(events_count: int) -> str:
    """Why a best_time placement used contact hours, for a contact with this many recent
    engagements."""
    days = LOOKBACK.days
    if events_count <= 0:
        found = f"no engagements in the last {days} days"
    else:
        noun = "engagement" if events_count == 1 else "engagements"
        found = f"only {events_count} {noun} in the last {days} days"
    return f"{found} ({MIN_EVENTS} needed); contact hours used"
