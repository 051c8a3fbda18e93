"""place_or_raw: a calendar with no open slot ahead never stops an event or a workflow."""

from datetime import UTC, date, datetime, timedelta

from nudge.calendar.placing import NO_OPEN_SLOT, place_or_raw
from nudge.calendar.timing import CalendarSnapshot, Wait

ANCHOR = datetime(2027, 3, 1, 10, tzinfo=UTC)
# Every weekday closed for the next three years: no open slot within the horizon.
CLOSED = CalendarSnapshot(
    working_hours={"mon": [("09:00", "17:00")]},
    closed={date(2027, 1, 1) + timedelta(days=i): "closed date" for i in range(4 * 366)},
)


def test_hours_wait_ends_where_the_wait_ends():
    placed = place_or_raw(None, None, ANCHOR, Wait(hours=5), "working_hours", CLOSED, ANCHOR)  # type: ignore[arg-type]
    assert (placed.due_at, placed.reason) == (ANCHOR + timedelta(hours=5), NO_OPEN_SLOT)


def test_business_days_without_a_business_day_count_calendar_days():
    placed = place_or_raw(None, None, ANCHOR, Wait(business_days=3), "anytime", CLOSED, ANCHOR)  # type: ignore[arg-type]
    assert (placed.due_at, placed.reason) == (ANCHOR + timedelta(days=3), NO_OPEN_SLOT)
