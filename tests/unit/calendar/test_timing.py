"""Where due times land: weekends, holidays, DST gaps and folds, split days, two zones, long
business-day waits, the reasons given, and the errors a bad calendar gets."""

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nudge.calendar import timing
from nudge.calendar.closures import snapshot
from nudge.calendar.timing import (
    DEFAULT_CALENDAR,
    BestHour,
    CalendarSnapshot,
    NoOpenSlot,
    Placed,
    Wait,
    add_business_days,
    is_open,
    next_open,
    place,
    validate_windows,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
WEEK = ("mon", "tue", "wed", "thu", "fri")
NINE_TO_FIVE = {day: [("09:00", "17:00")] for day in WEEK}
NOW = Wait(hours=0)
DASH = "\N{EN DASH}"  # as reasons and errors write ranges


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def cal(zone: str, hours: dict | None = None, **fields: object) -> CalendarSnapshot:
    return CalendarSnapshot(timezone=zone, working_hours=hours or NINE_TO_FIVE, **fields)


# (name, anchor, calendar, due_at, reason)
ROLLS = [
    (
        "weekend roll",
        utc(2026, 6, 6, 11, 0),  # Sat
        cal("UTC"),
        utc(2026, 6, 8, 9, 0),
        "Sat → Mon 09:00, weekend",
    ),
    (
        "after hours",
        utc(2026, 6, 8, 18, 30),  # Mon
        cal("UTC"),
        utc(2026, 6, 9, 9, 0),
        "18:30 → Tue 09:00, after working hours",
    ),
    (
        "before hours",
        utc(2026, 6, 8, 7, 10),
        cal("UTC"),
        utc(2026, 6, 8, 9, 0),
        "07:10 → 09:00, before working hours",
    ),
    (
        "inside a window stays",
        utc(2026, 6, 8, 9, 0),
        cal("UTC"),
        utc(2026, 6, 8, 9, 0),
        None,
    ),
    (
        "split day, lunch",
        utc(2026, 6, 8, 12, 20),
        cal("UTC", {d: [("09:00", "12:00"), ("13:00", "17:00")] for d in WEEK}),
        utc(2026, 6, 8, 13, 0),
        "12:20 → 13:00, outside working hours",
    ),
    (
        "split day, evening",
        utc(2026, 6, 8, 17, 30),
        cal("UTC", {d: [("09:00", "12:00"), ("13:00", "17:00")] for d in WEEK}),
        utc(2026, 6, 9, 9, 0),
        "17:30 → Tue 09:00, after working hours",
    ),
    (
        "a window's end is exclusive",
        utc(2026, 6, 8, 17, 0),
        cal("UTC"),
        utc(2026, 6, 9, 9, 0),
        "17:00 → Tue 09:00, after working hours",
    ),
    (
        "closed weekday",
        utc(2026, 6, 10, 10, 0),  # Wed
        cal("UTC", {d: [("09:00", "17:00")] for d in ("mon", "tue", "thu", "fri")}),
        utc(2026, 6, 11, 9, 0),
        "Wed → Thu 09:00, closed on Wednesdays",
    ),
    (
        "custom closed date",
        utc(2026, 6, 10, 10, 0),
        cal("UTC", closed={date(2026, 6, 10): "closed date"}),
        utc(2026, 6, 11, 9, 0),
        "10 Jun → Thu 11 Jun 09:00, closed date",
    ),
    (
        "24:00 ends the day",
        utc(2026, 6, 8, 23, 59),
        cal("UTC", {"mon": [("20:00", "24:00")], "tue": [("00:00", "01:00")]}),
        utc(2026, 6, 8, 23, 59),
        None,
    ),
    (
        "New York evening roll",
        local(NEW_YORK, 2026, 11, 17, 19, 15),  # Tue, EST
        cal("America/New_York"),
        utc(2026, 11, 18, 14, 0),
        "19:15 → Wed 09:00, after working hours",
    ),
    (
        "New York, Friday night over the DST weekend",
        local(NEW_YORK, 2027, 3, 12, 18, 30),  # EST; clocks go forward on Sun 14 Mar
        cal("America/New_York"),
        utc(2027, 3, 15, 13, 0),  # 09:00 EDT
        "18:30 → Mon 09:00, after working hours",
    ),
    (
        "Berlin, 09:00 before spring forward is 08:00 UTC",
        local(BERLIN, 2027, 3, 19, 18, 0),
        cal("Europe/Berlin"),
        utc(2027, 3, 22, 8, 0),
        "18:00 → Mon 09:00, after working hours",
    ),
    (
        "Berlin, 09:00 after spring forward is 07:00 UTC",
        local(BERLIN, 2027, 3, 26, 18, 0),
        cal("Europe/Berlin"),
        utc(2027, 3, 29, 7, 0),
        "18:00 → Mon 09:00, after working hours",
    ),
    (
        "Berlin spring forward: a window starting 02:30 opens at 03:00 CEST",
        local(BERLIN, 2027, 3, 27, 12, 0),  # Sat
        cal("Europe/Berlin", {"sun": [("02:30", "05:00")]}),
        utc(2027, 3, 28, 1, 0),
        "Sat → Sun 03:00, weekend",
    ),
    (
        "Berlin fall back: 02:30 is its first occurrence (CEST)",
        local(BERLIN, 2027, 10, 30, 12, 0),
        cal("Europe/Berlin", {"sun": [("02:30", "05:00")]}),
        utc(2027, 10, 31, 0, 30),
        "Sat → Sun 02:30, weekend",
    ),
    (
        "a window wholly inside the gap does not exist that day",
        local(BERLIN, 2027, 3, 27, 12, 0),
        cal("Europe/Berlin", {"sun": [("02:10", "02:50")]}),
        local(BERLIN, 2027, 4, 4, 2, 10),
        "Sat → Sun 4 Apr 02:10, weekend",
    ),
]


@pytest.mark.parametrize(
    ("anchor", "calendar", "due", "reason"),
    [row[1:] for row in ROLLS],
    ids=[row[0] for row in ROLLS],
)
def test_working_hours_roll(anchor, calendar, due, reason):
    placed = place(anchor, NOW, "working_hours", calendar)
    assert placed.due_at == due
    assert placed.due_at.tzinfo is UTC
    assert placed.raw_at == anchor
    assert placed.reason == reason
    assert placed.placement == "working_hours"
    assert placed.zone == calendar.timezone
    assert next_open(anchor, calendar, calendar.timezone) == (due, reason)


def test_naive_anchor_reads_as_utc():
    placed = place(datetime(2026, 6, 6, 11, 0), NOW, "working_hours", DEFAULT_CALENDAR)
    assert placed.due_at == utc(2026, 6, 8, 9, 0)
    assert placed.raw_at == utc(2026, 6, 6, 11, 0)


def test_default_calendar_is_weekdays_nine_to_five_utc():
    assert DEFAULT_CALENDAR.timezone == "UTC"
    assert DEFAULT_CALENDAR.working_hours == NINE_TO_FIVE


def test_raw_is_plain_elapsed_time():
    # Sat 12:00 CET + 24 h is Sun 13:00 CEST: elapsed time, not wall time, across the DST night.
    anchor = local(BERLIN, 2027, 3, 27, 12, 0)
    berlin = cal("Europe/Berlin")
    assert place(anchor, Wait(hours=24), "anytime", berlin).raw_at == utc(2027, 3, 28, 11, 0)
    assert place(anchor, Wait(days=1.5), "anytime", berlin).due_at == utc(2027, 3, 28, 23, 0)


def test_anytime_never_moves():
    placed = place(utc(2026, 12, 26, 3, 0), Wait(hours=1), "anytime", DEFAULT_CALENDAR)
    assert placed.due_at == placed.raw_at == utc(2026, 12, 26, 4, 0)
    assert placed.reason is None


# --- Days on the wall clock ------------------------------------------------------------------


def test_placed_days_are_wall_clock_days_across_dst():
    # Fri 09:00 CET + 3 days is Mon 09:00 CEST (07:00 UTC), not 72 hours later (08:00 UTC).
    friday = local(BERLIN, 2027, 3, 26, 9, 0)
    berlin = cal("Europe/Berlin")
    for placement in ("working_hours", "contact_hours", "best_time"):
        placed = place(friday, Wait(days=3), placement, berlin)
        assert placed.raw_at == placed.due_at == utc(2027, 3, 29, 7, 0), placement
    # Counted in the contact's zone: New York changes clocks two weeks before Berlin.
    new_york = local(NEW_YORK, 2027, 3, 12, 9, 0)
    placed = place(new_york, Wait(days=3), "contact_hours", berlin, contact_tz="America/New_York")
    assert placed.due_at == local(NEW_YORK, 2027, 3, 15, 9, 0) == utc(2027, 3, 15, 13, 0)
    # Back in autumn: Fri 09:00 CEST + 3 days is Mon 09:00 CET, 73 hours later.
    autumn = place(local(BERLIN, 2027, 10, 29, 9, 0), Wait(days=3), "working_hours", berlin)
    assert autumn.due_at == utc(2027, 11, 1, 8, 0)


def test_anytime_days_stay_elapsed_time():
    friday = local(BERLIN, 2027, 3, 26, 9, 0)
    placed = place(friday, Wait(days=3), "anytime", cal("Europe/Berlin"))
    # (Aware arithmetic in one zone is wall arithmetic: add in UTC to count elapsed time.)
    assert placed.due_at == friday.astimezone(UTC) + timedelta(hours=72) == utc(2027, 3, 29, 8)


def test_placed_hours_stay_elapsed_time():
    friday = local(BERLIN, 2027, 3, 26, 9, 0)
    placed = place(friday, Wait(hours=72), "working_hours", cal("Europe/Berlin"))
    assert placed.raw_at == utc(2027, 3, 29, 8, 0)


def test_a_fraction_of_a_day_is_wall_hours():
    # Fri 12:00 CET + 2.5 days is Mon 00:00 CEST: 59 hours, the night lost an hour.
    placed = place(
        local(BERLIN, 2027, 3, 26, 12, 0),
        Wait(days=2.5),
        "working_hours",
        cal("Europe/Berlin", ALL_DAY),
    )
    assert placed.raw_at == local(BERLIN, 2027, 3, 29, 0, 0) == utc(2027, 3, 28, 22, 0)


@pytest.mark.parametrize(
    ("anchor", "days", "expected"),
    [
        # 02:30 does not exist on Sun 28 Mar 2027 in Berlin: the next valid minute, 03:00 CEST.
        (local(BERLIN, 2027, 3, 27, 2, 30), 1, utc(2027, 3, 28, 1, 0)),
        # 02:30 happens twice on Sun 31 Oct 2027: the first, still CEST.
        (local(BERLIN, 2027, 10, 30, 2, 30), 1, utc(2027, 10, 31, 0, 30)),
        # From the second 02:10 (CET), the first 02:24 is before the anchor: the second.
        (utc(2027, 10, 31, 1, 10), 0.01, utc(2027, 10, 31, 1, 10) + timedelta(days=0.01)),
        (utc(2027, 10, 31, 1, 10), 0, utc(2027, 10, 31, 1, 10)),
    ],
)
def test_wall_days_resolve_gaps_and_folds(anchor, days, expected):
    placed = place(anchor, Wait(days=days), "working_hours", cal("Europe/Berlin", ALL_DAY))
    assert placed.raw_at == placed.due_at == expected


def test_wall_days_then_working_hours():
    # Fri 18:00 + 1 day is Sat 18:00: the weekend, so Monday 09:00.
    placed = place(
        local(BERLIN, 2026, 6, 5, 18), Wait(days=1), "working_hours", cal("Europe/Berlin")
    )
    assert placed.raw_at == local(BERLIN, 2026, 6, 6, 18)
    assert placed.due_at == local(BERLIN, 2026, 6, 8, 9)
    assert placed.reason == "Sat → Mon 09:00, weekend"


# --- German and US holidays -----------------------------------------------------------------

MON_TO_SAT = {d: [("09:00", "17:00")] for d in (*WEEK, "sat")}
YEARS = range(2026, 2029)


def test_christmas_closes_by_german_holidays_not_by_us_ones():
    de = snapshot("Europe/Berlin", MON_TO_SAT, ("DE", None), [], years=YEARS)
    us = snapshot("Europe/Berlin", MON_TO_SAT, ("US", None), [], years=YEARS)
    assert de.closed[date(2026, 12, 25)] == "Christmas Day (DE)"
    assert date(2026, 12, 26) in de.closed
    # The US closes on Christmas Day too, but not on the 26th (a Saturday, open here).
    assert date(2026, 12, 26) not in us.closed

    christmas = local(BERLIN, 2026, 12, 25, 10, 0)
    moved = place(christmas, NOW, "working_hours", de)
    assert moved.due_at == local(BERLIN, 2026, 12, 28, 9, 0)
    # Saturday is open in this calendar, so its holiday is named too.
    assert moved.reason == (
        "25 Dec → Mon 28 Dec 09:00, Christmas Day (DE); 26 Dec Second Day of Christmas (DE)"
    )

    boxing_day = local(BERLIN, 2026, 12, 26, 10, 0)
    assert place(boxing_day, NOW, "working_hours", de).due_at == local(BERLIN, 2026, 12, 28, 9)
    assert place(boxing_day, NOW, "working_hours", us).due_at == boxing_day
    assert place(boxing_day, NOW, "working_hours", us).reason is None


def test_a_reason_names_every_closed_date_it_skips():
    de = snapshot("Europe/Berlin", NINE_TO_FIVE, ("DE", None), [], years=YEARS)
    eve = local(BERLIN, 2026, 12, 24, 18, 0)  # Thu
    moved = place(eve, NOW, "working_hours", de)
    assert moved.due_at == local(BERLIN, 2026, 12, 28, 9, 0)
    # Sat 26 Dec is a holiday too, but Saturday has no hours here: nothing it closed.
    assert moved.reason == (
        "24 Dec 18:00 → Mon 28 Dec 09:00, after working hours; 25 Dec Christmas Day (DE)"
    )
    mon_to_sat = snapshot("Europe/Berlin", MON_TO_SAT, ("DE", None), [], years=YEARS)
    assert place(eve, NOW, "working_hours", mon_to_sat).reason == (
        "24 Dec 18:00 → Mon 28 Dec 09:00, after working hours; "
        "25 Dec Christmas Day (DE), 26 Dec Second Day of Christmas (DE)"
    )
    # Maundy Thursday evening: Good Friday, the weekend, Easter Monday.
    easter = place(local(BERLIN, 2026, 4, 2, 18, 0), NOW, "working_hours", de)
    assert easter.due_at == local(BERLIN, 2026, 4, 7, 9, 0)
    assert easter.reason == (
        "2 Apr 18:00 → Tue 7 Apr 09:00, after working hours; "
        "3 Apr Good Friday (DE), 6 Apr Easter Monday (DE)"
    )
    # A weekend first, then a holiday.
    saturday = place(local(BERLIN, 2026, 4, 4, 10, 0), NOW, "working_hours", de)
    assert saturday.reason == "Sat 4 Apr → Tue 7 Apr 09:00, weekend; 6 Apr Easter Monday (DE)"
    # In the contact's zone, and with the note that the owner's was used.
    in_zone = place(eve, NOW, "contact_hours", de, contact_tz="Europe/Berlin")
    assert in_zone.reason == (
        "24 Dec 18:00 → Mon 28 Dec 09:00 Europe/Berlin, after working hours; "
        "25 Dec Christmas Day (DE)"
    )
    owners = place(eve, NOW, "contact_hours", de)
    assert owners.reason == (
        "24 Dec 18:00 → Mon 28 Dec 09:00, after working hours; 25 Dec Christmas Day (DE); "
        "contact has no time zone; owner's used"
    )
    assert next_open(eve, de, "Europe/Berlin") == (moved.due_at, moved.reason)


def test_a_long_closure_names_three_dates_then_counts():
    shutdown = {date(2026, 8, 3) + timedelta(days=k): "company shutdown" for k in range(12)}
    calendar = cal("Europe/Berlin", closed=shutdown)
    before = place(local(BERLIN, 2026, 7, 31, 18, 0), NOW, "working_hours", calendar)
    assert before.due_at == local(BERLIN, 2026, 8, 17, 9, 0)
    assert before.reason == (
        "31 Jul 18:00 → Mon 17 Aug 09:00, after working hours; 3 Aug company shutdown, "
        "4 Aug company shutdown, 5 Aug company shutdown and 7 more"
    )
    # The first closed date is the cause: two more named, so three in all (ten weekdays).
    inside = place(local(BERLIN, 2026, 8, 3, 10, 0), NOW, "working_hours", calendar)
    assert inside.reason == (
        "3 Aug → Mon 17 Aug 09:00, company shutdown; "
        "4 Aug company shutdown, 5 Aug company shutdown and 7 more"
    )


def test_easter_monday_closes_in_germany_only():
    easter_monday = local(BERLIN, 2026, 4, 6, 10, 0)
    de = snapshot("Europe/Berlin", NINE_TO_FIVE, ("DE", None), [], years=YEARS)
    us = snapshot("Europe/Berlin", NINE_TO_FIVE, ("US", None), [], years=YEARS)
    assert place(easter_monday, NOW, "working_hours", de).due_at == local(BERLIN, 2026, 4, 7, 9)
    assert place(easter_monday, NOW, "working_hours", us).due_at == easter_monday


# --- DST ------------------------------------------------------------------------------------

ALL_DAY = {d: [("00:00", "24:00")] for d in (*WEEK, "sat", "sun")}


@pytest.mark.parametrize(
    ("zone", "anchor", "expected"),
    [
        # 02:30 does not exist on 28 Mar 2027 in Berlin: the next valid minute, 03:00 CEST.
        ("Europe/Berlin", local(BERLIN, 2027, 3, 27, 2, 30), utc(2027, 3, 28, 1, 0)),
        # 02:30 happens twice on 31 Oct 2027: the first, still CEST.
        ("Europe/Berlin", local(BERLIN, 2027, 10, 30, 2, 30), utc(2027, 10, 31, 0, 30)),
        # New York springs forward at 02:00 on 14 Mar 2027: 02:30 is 03:00 EDT.
        ("America/New_York", local(NEW_YORK, 2027, 3, 13, 2, 30), utc(2027, 3, 14, 7, 0)),
        # 09:00 stays 09:00 local across the change.
        ("America/New_York", local(NEW_YORK, 2027, 3, 13, 9, 0), utc(2027, 3, 14, 13, 0)),
    ],
)
def test_business_day_keeps_wall_time_across_dst(zone, anchor, expected):
    calendar = cal(zone, ALL_DAY)
    placed = place(anchor, Wait(business_days=1), "anytime", calendar)
    assert placed.due_at == placed.raw_at == expected


def test_an_open_instant_of_the_repeated_hour_is_its_first_pass():
    calendar = cal("Europe/Berlin", {"sun": [("02:00", "02:30")]})
    assert is_open(utc(2027, 10, 31, 0, 15), calendar, "Europe/Berlin")  # 02:15 CEST
    assert not is_open(utc(2027, 10, 31, 1, 15), calendar, "Europe/Berlin")  # 02:15 CET


# --- Two zones ------------------------------------------------------------------------------


def test_tokyo_contact_of_a_berlin_owner():
    berlin = cal("Europe/Berlin")
    saturday = utc(2026, 6, 6, 12, 0)
    owner = place(saturday, NOW, "working_hours", berlin, contact_tz="Asia/Tokyo")
    contact = place(saturday, NOW, "contact_hours", berlin, contact_tz="Asia/Tokyo")
    assert owner.due_at == local(BERLIN, 2026, 6, 8, 9, 0) == utc(2026, 6, 8, 7, 0)
    assert owner.zone == "Europe/Berlin"
    assert contact.due_at == local(TOKYO, 2026, 6, 8, 9, 0) == utc(2026, 6, 8, 0, 0)
    assert contact.zone == "Asia/Tokyo"
    assert contact.placement == "contact_hours"
    assert contact.reason == "Sat → Mon 09:00 Asia/Tokyo, weekend"

    # Noon in Berlin is open for the owner and 19:00 in Tokyo.
    monday_noon = local(BERLIN, 2026, 6, 8, 12, 0)
    assert place(monday_noon, NOW, "working_hours", berlin).due_at == monday_noon
    evening = place(monday_noon, NOW, "contact_hours", berlin, contact_tz="Asia/Tokyo")
    assert evening.due_at == local(TOKYO, 2026, 6, 9, 9, 0)
    assert evening.reason == "19:00 → Tue 09:00 Asia/Tokyo, after working hours"


def test_contact_without_zone_uses_the_owners_and_says_so_when_moved():
    berlin = cal("Europe/Berlin")
    moved = place(utc(2026, 6, 6, 12, 0), NOW, "contact_hours", berlin)
    assert moved.zone == "Europe/Berlin"
    assert moved.due_at == local(BERLIN, 2026, 6, 8, 9, 0)
    assert moved.reason == "Sat → Mon 09:00, weekend; contact has no time zone; owner's used"
    stayed = place(local(BERLIN, 2026, 6, 8, 12, 0), NOW, "contact_hours", berlin)
    assert stayed.reason is None


# --- Business days --------------------------------------------------------------------------


def test_business_days_count_from_the_anchor_date_and_keep_its_time():
    friday = utc(2026, 6, 5, 15, 30)
    assert add_business_days(friday, 0, DEFAULT_CALENDAR, "UTC") == friday
    assert add_business_days(friday, 1, DEFAULT_CALENDAR, "UTC") == utc(2026, 6, 8, 15, 30)
    assert add_business_days(friday, 5, DEFAULT_CALENDAR, "UTC") == utc(2026, 6, 12, 15, 30)
    saturday = utc(2026, 6, 6, 8, 0)
    assert add_business_days(saturday, 1, DEFAULT_CALENDAR, "UTC") == utc(2026, 6, 8, 8, 0)


def test_business_days_then_working_hours():
    # Friday 18:30 + 1 business day is Monday 18:30: after hours, so Tuesday 09:00.
    placed = place(
        utc(2026, 6, 5, 18, 30), Wait(business_days=1), "working_hours", DEFAULT_CALENDAR
    )
    assert placed.raw_at == utc(2026, 6, 8, 18, 30)
    assert placed.due_at == utc(2026, 6, 9, 9, 0)


def test_business_days_skip_holidays():
    de = snapshot("Europe/Berlin", NINE_TO_FIVE, ("DE", None), [], years=YEARS)
    # Thu 24 Dec + 1: not Fri 25 (Christmas), nor the weekend.
    christmas_eve = local(BERLIN, 2026, 12, 24, 10, 0)
    assert add_business_days(christmas_eve, 1, de, "Europe/Berlin") == local(
        BERLIN, 2026, 12, 28, 10, 0
    )
    bavaria = snapshot("Europe/Berlin", NINE_TO_FIVE, ("DE", "BY"), [], years=YEARS)
    # Tue 5 Jan 2027 + 1: Wed 6 Jan is Epiphany in Bavaria only.
    tuesday = local(BERLIN, 2027, 1, 5, 10, 0)
    assert add_business_days(tuesday, 1, bavaria, "Europe/Berlin") == local(BERLIN, 2027, 1, 7, 10)
    assert add_business_days(tuesday, 1, de, "Europe/Berlin") == local(BERLIN, 2027, 1, 6, 10)


def test_260_business_days_without_holidays_is_52_weeks():
    monday = utc(2026, 1, 5, 10, 0)
    placed = place(monday, Wait(business_days=260), "working_hours", DEFAULT_CALENDAR)
    assert placed.due_at == utc(2027, 1, 4, 10, 0)


def test_260_business_days_with_german_holidays_fast():
    de = snapshot("Europe/Berlin", NINE_TO_FIVE, ("DE", None), [], years=YEARS)
    monday = local(BERLIN, 2026, 1, 5, 11, 0)
    started = time.perf_counter()
    placed = place(monday, Wait(business_days=260), "working_hours", de)
    elapsed = time.perf_counter() - started
    # 52 weeks end on Mon 4 Jan 2027, but seven weekday holidays fall in between (Good
    # Friday 3 Apr, Easter Monday 6 Apr, 1 May, Ascension 14 May, Whit Monday 25 May,
    # Christmas 25 Dec, New Year 1 Jan): seven business days more, Wed 13 Jan 2027.
    assert placed.due_at == local(BERLIN, 2027, 1, 13, 11, 0)
    assert elapsed < 0.05


# --- No open slot and bad calendars ---------------------------------------------------------


def test_no_open_slot_when_nothing_is_open():
    with pytest.raises(NoOpenSlot):
        place(utc(2026, 1, 1), NOW, "working_hours", cal("UTC", {"mon": []}))
    with pytest.raises(NoOpenSlot):
        place(utc(2026, 1, 1), Wait(business_days=3), "anytime", cal("UTC", {"mon": []}))


def test_no_open_slot_when_every_open_day_is_closed_past_the_horizon():
    mondays = {date(2026, 1, 5) + timedelta(weeks=k): "closed date" for k in range(52 * 5)}
    calendar = cal("UTC", {"mon": [("09:00", "17:00")]}, closed=mondays)
    started = time.perf_counter()
    with pytest.raises(NoOpenSlot, match="no open hour"):
        place(utc(2026, 1, 1), NOW, "working_hours", calendar)
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": [("17:00", "09:00")]}, f"mon: window 17:00{DASH}09:00 is empty or inverted"),
        ({"tue": [("09:00", "09:00")]}, f"tue: window 09:00{DASH}09:00 is empty or inverted"),
        (
            {"wed": [("13:00", "17:00"), ("09:00", "13:30")]},
            f"wed: windows 09:00{DASH}13:30 and 13:00{DASH}17:00 overlap",
        ),
        ({"thu": [("9:00", "17:00")]}, "thu: '9:00' is not a time"),
        ({"fri": [("09:00", "25:00")]}, "fri: '25:00' is not a time"),
        ({"sat": [("24:00", "24:00")]}, "sat: 24:00 can only end a window"),
        ({"monday": [("09:00", "17:00")]}, "unknown weekday 'monday'"),
        ({}, "the calendar has no open hour: give at least one day working hours"),
        ({"mon": [], "sun": []}, "the calendar has no open hour"),
    ],
)
def test_validate_windows_errors(hours, message):
    with pytest.raises(ValueError) as raised:
        validate_windows(hours)
    assert message in str(raised.value)


def test_validate_windows_accepts_touching_and_unsorted_windows():
    validate_windows({"mon": [("13:00", "24:00"), ("09:00", "13:00")], "sun": []})


def test_snapshot_rejects_bad_windows_but_not_an_empty_week():
    with pytest.raises(ValidationError, match="overlap"):
        CalendarSnapshot(working_hours={"mon": [("09:00", "12:00"), ("11:00", "13:00")]})
    assert CalendarSnapshot().working_hours == {}


def test_payloads_read_back_without_looking_a_zone_up(monkeypatch):
    # A workflow's replay re-reads its payloads: a zone a tzdata upgrade dropped, or no
    # tzdata at all, must not fail it. Only placing looks the zone up.
    def no_lookup(name: str) -> None:
        raise AssertionError(f"looked up {name!r}")

    monkeypatch.setattr(timing, "ZoneInfo", no_lookup)
    gone = CalendarSnapshot(timezone="Mars/Olympus", working_hours=NINE_TO_FIVE)
    assert CalendarSnapshot.model_validate_json(gone.model_dump_json()) == gone
    best = BestHour(weekday="tue", hour=10, count=7, total=12, zone="Mars/Olympus")
    assert BestHour.model_validate_json(best.model_dump_json()) == best
    placed = Placed(
        due_at=local(BERLIN, 2026, 6, 8, 9),
        raw_at=local(BERLIN, 2026, 6, 8, 9),
        placement="working_hours",
        zone="Mars/Olympus",
    )
    assert placed.due_at == utc(2026, 6, 8, 7)  # still converted to UTC
    assert placed.due_at.tzinfo is UTC
    assert Placed.model_validate_json(placed.model_dump_json()) == placed


def test_an_unknown_zone_fails_when_placing():
    gone = CalendarSnapshot(timezone="Mars/Olympus", working_hours=NINE_TO_FIVE)
    at = utc(2026, 6, 8, 12)
    message = "unknown time zone 'Mars/Olympus'; use an IANA name"
    for placement in ("working_hours", "contact_hours", "best_time"):
        with pytest.raises(ValueError, match=message):
            place(at, NOW, placement, gone)
    with pytest.raises(ValueError, match=message):
        place(at, Wait(business_days=1), "anytime", gone)
    with pytest.raises(ValueError, match=message):
        next_open(at, gone, gone.timezone)
    with pytest.raises(ValueError, match=message):
        is_open(at, gone, gone.timezone)
    with pytest.raises(ValueError, match=message):
        add_business_days(at, 1, gone, gone.timezone)
    best = BestHour(weekday="tue", hour=10, count=7, total=12, zone="Mars/Olympus")
    with pytest.raises(ValueError, match=message):
        place(at, NOW, "best_time", DEFAULT_CALENDAR, best=best)
    # anytime with an hours or days wait reads no zone at all: it places as it always did.
    assert place(at, Wait(days=1), "anytime", gone).due_at == at + timedelta(days=1)


@pytest.mark.parametrize(
    "fields",
    [{}, {"hours": 1, "days": 1}, {"hours": -1}, {"business_days": 261}, {"days": float("inf")}],
)
def test_wait_takes_exactly_one_non_negative_amount(fields):
    with pytest.raises(ValidationError):
        Wait(**fields)


def test_unknown_contact_zone_is_a_value_error():
    with pytest.raises(ValueError, match="unknown time zone 'Nowhere/Else'"):
        place(utc(2026, 1, 1), NOW, "contact_hours", DEFAULT_CALENDAR, contact_tz="Nowhere/Else")


# --- Payloads -------------------------------------------------------------------------------


def test_snapshot_and_placed_round_trip_through_json():
    de = snapshot("Europe/Berlin", MON_TO_SAT, ("DE", "BY"), [date(2026, 8, 14)], years=YEARS)
    assert CalendarSnapshot.model_validate_json(de.model_dump_json()) == de
    assert '"2026-12-25":"Christmas Day (DE-BY)"' in de.model_dump_json()
    placed = place(local(BERLIN, 2026, 12, 25, 10), Wait(days=1), "working_hours", de)
    assert Placed.model_validate_json(placed.model_dump_json()) == placed
