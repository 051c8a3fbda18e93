"""A contact's best hour from their engagements, and placing a due time at it (or falling
back to contact hours, saying why)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nudge.calendar.best_time import (
    ENGAGEMENT_TYPES,
    LOOKBACK,
    MIN_EVENTS,
    best_hour,
    explain_fallback,
)
from nudge.calendar.timing import BestHour, CalendarSnapshot, Wait, is_open, place
from nudge.core.vocabulary import ACTIVITY_TYPES

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 6, 12, 0, 0, tzinfo=UTC)  # Fri 09:00 in Tokyo
OWNER = CalendarSnapshot(
    timezone="Europe/Berlin",
    working_hours={d: [("09:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")},
)
DASH = "\N{EN DASH}"


def tokyo(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


# Seven engagements on Tuesdays 10:00-10:59 Tokyo time over the last weeks, five elsewhere.
CLUSTER = [
    (tokyo(2026, 6, 9, 10, 5), "email_opened"),
    (tokyo(2026, 6, 2, 10, 40), "email_clicked"),
    (tokyo(2026, 5, 26, 10, 0), "email_replied"),
    (tokyo(2026, 5, 19, 10, 59), "email_opened"),
    (tokyo(2026, 5, 12, 10, 15), "meeting_booked"),
    (tokyo(2026, 5, 5, 10, 30), "call_logged"),
    (tokyo(2026, 4, 28, 10, 20), "form_submitted"),
]
SCATTER = [
    (tokyo(2026, 6, 10, 14, 0), "email_opened"),
    (tokyo(2026, 6, 3, 9, 0), "email_opened"),
    (tokyo(2026, 5, 28, 16, 30), "email_clicked"),
    (tokyo(2026, 5, 20, 11, 0), "email_opened"),
    (tokyo(2026, 5, 15, 10, 10), "email_opened"),  # a Friday
]
EVENTS = CLUSTER + SCATTER


def test_engagement_types_are_activity_types():
    assert ENGAGEMENT_TYPES < set(ACTIVITY_TYPES)
    assert "page_visited" not in ENGAGEMENT_TYPES


def test_best_hour_of_a_tuesday_cluster():
    best = best_hour(EVENTS, "Asia/Tokyo", NOW)
    assert best == BestHour(weekday="tue", hour=10, count=7, total=12, zone="Asia/Tokyo")


def test_best_time_placement_lands_at_that_hour_in_the_contacts_zone():
    best = best_hour(EVENTS, "Asia/Tokyo", NOW)
    friday = NOW
    placed = place(friday, Wait(hours=1), "best_time", OWNER, contact_tz="Asia/Tokyo", best=best)
    assert placed.placement == "best_time"
    assert placed.zone == "Asia/Tokyo"
    assert placed.due_at == tokyo(2026, 6, 16, 10, 0)
    assert placed.reason == (f"Tue 10:00 Asia/Tokyo: 7 of their 12 engagements came Tue 10{DASH}11")
    assert is_open(placed.due_at, OWNER, "Asia/Tokyo")


def test_inside_the_best_hour_stays_and_a_late_window_start_is_taken():
    best = BestHour(weekday="tue", hour=10, count=7, total=12, zone="Asia/Tokyo")
    inside = place(tokyo(2026, 6, 16, 10, 20), Wait(hours=0), "best_time", OWNER, best=best)
    assert inside.due_at == tokyo(2026, 6, 16, 10, 20)
    late = OWNER.model_copy(update={"working_hours": {"tue": [("10:30", "12:00")]}})
    placed = place(NOW, Wait(hours=0), "best_time", late, best=best)
    assert placed.due_at == tokyo(2026, 6, 16, 10, 30)
    # Past the hour this week: the same hour next week.
    after = place(tokyo(2026, 6, 16, 11, 0), Wait(hours=0), "best_time", OWNER, best=best)
    assert after.due_at == tokyo(2026, 6, 23, 10, 0)


def test_too_few_events_fall_back_to_contact_hours():
    few = EVENTS[:3]
    assert best_hour(few, "Asia/Tokyo", NOW) is None
    saturday = tokyo(2026, 6, 13, 12, 0)
    placed = place(
        saturday,
        Wait(hours=0),
        "best_time",
        OWNER,
        contact_tz="Asia/Tokyo",
        best=best_hour(few, "Asia/Tokyo", NOW),
    )
    assert placed.placement == "contact_hours"
    assert placed.due_at == tokyo(2026, 6, 15, 9, 0)
    assert placed.reason is not None
    assert placed.reason.startswith("Sat → Mon 09:00 Asia/Tokyo, weekend; best time: ")
    assert f"in the last {LOOKBACK.days} days; contact hours used" in placed.reason
    assert explain_fallback(3) == (
        f"only 3 engagements in the last 90 days ({MIN_EVENTS} needed); contact hours used"
    )
    assert explain_fallback(1).startswith("only 1 engagement in")
    assert explain_fallback(0).startswith("no engagements in the last 90 days")


def test_fallback_is_explained_even_when_nothing_moved():
    monday_noon = tokyo(2026, 6, 15, 12, 0)
    placed = place(monday_noon, Wait(hours=0), "best_time", OWNER, contact_tz="Asia/Tokyo")
    assert placed.due_at == monday_noon
    assert placed.placement == "contact_hours"
    assert placed.reason is not None
    assert placed.reason.startswith("best time: ")


def test_best_hour_outside_working_hours_falls_back():
    saturday_ten = BestHour(weekday="sat", hour=10, count=6, total=9, zone="Asia/Tokyo")
    placed = place(
        NOW, Wait(hours=0), "best_time", OWNER, contact_tz="Asia/Tokyo", best=saturday_ten
    )
    assert placed.placement == "contact_hours"
    assert placed.due_at == NOW  # Fri 09:00 Tokyo is open
    assert placed.reason == (
        f"best time Sat 10{DASH}11 is outside working hours; contact hours used"
    )


def test_events_older_than_the_lookback_are_ignored():
    old = [
        (NOW - LOOKBACK - timedelta(minutes=1) - timedelta(weeks=k), "email_opened")
        for k in range(20)
    ]
    assert best_hour(old + EVENTS, "Asia/Tokyo", NOW) == best_hour(EVENTS, "Asia/Tokyo", NOW)
    assert best_hour(old + EVENTS[:4], "Asia/Tokyo", NOW) is None


def test_non_engagement_types_are_ignored():
    visits = [(tokyo(2026, 6, 11, 15, minute), "page_visited") for minute in range(30)]
    assert best_hour(visits + EVENTS, "Asia/Tokyo", NOW) == best_hour(EVENTS, "Asia/Tokyo", NOW)
    assert best_hour(visits, "Asia/Tokyo", NOW) is None


def test_ties_go_to_the_earliest_hour_of_the_week():
    events = [
        (tokyo(2026, 6, 11, 9, 0), "email_opened"),  # Thu 09
        (tokyo(2026, 6, 4, 9, 0), "email_opened"),
        (tokyo(2026, 6, 9, 15, 0), "email_opened"),  # Tue 15
        (tokyo(2026, 6, 2, 15, 0), "email_opened"),
        (tokyo(2026, 6, 10, 8, 0), "email_opened"),  # Wed 08
    ]
    best = best_hour(reversed(events), "Asia/Tokyo", NOW)
    assert best is not None
    assert (best.weekday, best.hour, best.count, best.total) == ("tue", 15, 2, 5)


def test_the_hour_is_read_in_the_given_zone():
    # Tue 10:xx Tokyo is Tue 03:xx in Berlin (summer).
    best = best_hour(EVENTS, "Europe/Berlin", NOW)
    assert best is not None
    assert (best.weekday, best.hour, best.zone) == ("tue", 3, "Europe/Berlin")


@pytest.mark.parametrize("kind", sorted(ENGAGEMENT_TYPES))
def test_each_engagement_type_counts(kind):
    events = [(NOW - timedelta(days=1, minutes=m), kind) for m in range(MIN_EVENTS)]
    assert best_hour(events, "UTC", NOW) is not None


def test_an_unknown_zone_is_a_value_error_naming_the_fix():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'; use an IANA name"):
        best_hour(EVENTS, "Mars/Olympus", NOW)
