"""Public holidays by region, in English with the region's label, and the snapshot that
freezes them with an owner's own closed dates."""

from datetime import UTC, date, datetime

import pytest

from nudge.calendar.closures import check_region, public_holidays, snapshot, with_years
from nudge.calendar.timing import CalendarSnapshot, Wait, place

HOURS = {"mon": [("09:00", "17:00")]}


@pytest.mark.parametrize(("country", "subdivision"), [("DE", None), ("DE", "BY"), ("US", "CA")])
def test_known_regions_pass(country, subdivision):
    check_region(country, subdivision)


def test_unknown_country_names_the_fix():
    with pytest.raises(ValueError) as raised:
        check_region("XX", None)
    assert str(raised.value) == (
        "unknown holiday country 'XX'; use an ISO 3166-1 alpha-2 code such as 'DE' or 'US'"
    )


def test_unknown_subdivision_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown subdivision 'XX' of 'DE'; use one of 'BB', "):
        check_region("DE", "XX")


def test_subdivision_of_a_country_without_any():
    with pytest.raises(ValueError, match="has no subdivisions"):
        check_region("AG", "XX")


def test_german_holidays_in_english_with_the_region():
    found = public_holidays("DE", None, range(2026, 2027))
    assert found[date(2026, 12, 25)] == "Christmas Day (DE)"
    assert found[date(2026, 10, 3)] == "German Unity Day (DE)"
    assert date(2026, 1, 6) not in found  # Epiphany is Bavaria's, not all of Germany's
    bavaria = public_holidays("DE", "BY", range(2026, 2027))
    assert bavaria[date(2026, 1, 6)] == "Epiphany (DE-BY)"
    assert all(day.year == 2026 for day in bavaria)


def test_country_without_translations_keeps_its_english_names():
    assert public_holidays("BS", None, range(2026, 2027))[date(2026, 12, 25)] == (
        "Christmas Day (BS)"
    )


def test_no_years_no_holidays():
    assert public_holidays("DE", None, range(2026, 2026)) == {}


def test_snapshot_merges_holidays_and_closed_dates():
    company_day = date(2026, 8, 14)
    shot = snapshot(
        "Europe/Berlin",
        HOURS,
        ("DE", "BY"),
        [company_day, date(2026, 12, 25)],
        years=range(2026, 2029),
    )
    assert shot.closed[company_day] == "closed date"
    assert shot.closed[date(2026, 12, 25)] == "Christmas Day (DE-BY)"  # the holiday's name wins
    assert shot.closed[date(2028, 12, 25)] == "Christmas Day (DE-BY)"
    assert date(2029, 12, 25) not in shot.closed
    assert shot.holiday_years == (2026, 2028)
    assert shot.label == "DE-BY"
    assert shot.region == ("DE", "BY")
    assert list(shot.closed) == sorted(shot.closed)
    assert shot.working_hours == HOURS
    assert CalendarSnapshot.model_validate_json(shot.model_dump_json()) == shot


def test_snapshot_without_holidays():
    shot = snapshot("UTC", HOURS, None, [date(2026, 8, 14)], years=range(2026, 2029))
    assert shot.closed == {date(2026, 8, 14): "closed date"}
    assert shot.holiday_years is None
    assert shot.label is None
    assert shot.region is None


def test_snapshot_checks_the_region():
    with pytest.raises(ValueError, match="unknown holiday country"):
        snapshot("UTC", HOURS, ("ZZ", None), [], years=range(2026, 2027))


# --- Later years ----------------------------------------------------------------------------

WEEK = {d: [("09:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}


def christmases(shot: CalendarSnapshot) -> list[int]:
    return [day.year for day, why in shot.closed.items() if why.startswith("Christmas Day")]


def test_with_years_adds_the_holidays_of_later_years():
    shot = snapshot("Europe/Berlin", WEEK, ("DE", "BY"), [], years=range(2026, 2029))
    later = with_years(shot, range(2030, 2032))
    # 2029 too: the held years stay one unbroken run.
    assert later.holiday_years == (2026, 2031)
    assert christmases(later) == [2026, 2027, 2028, 2029, 2030, 2031]
    assert later.closed[date(2031, 1, 6)] == "Epiphany (DE-BY)"
    assert list(later.closed) == sorted(later.closed)
    assert (later.region, later.label, later.timezone) == (shot.region, shot.label, shot.timezone)
    assert christmases(shot) == [2026, 2027, 2028]  # the original is unchanged
    assert CalendarSnapshot.model_validate_json(later.model_dump_json()) == later


def test_with_years_adds_earlier_years_too():
    shot = snapshot("Europe/Berlin", WEEK, ("DE", None), [], years=range(2027, 2028))
    wider = with_years(shot, range(2025, 2029))
    assert wider.holiday_years == (2025, 2028)
    assert christmases(wider) == [2025, 2026, 2027, 2028]


def test_with_years_keeps_the_owners_dates_and_names_a_holiday_as_snapshot_does():
    company_day, christmas = date(2030, 8, 14), date(2030, 12, 25)
    shot = snapshot(
        "Europe/Berlin", WEEK, ("DE", None), [company_day, christmas], years=range(2026, 2027)
    )
    later = with_years(shot, range(2030, 2031))
    assert later.closed[company_day] == "closed date"
    assert later.closed[christmas] == "Christmas Day (DE)"


def test_with_years_is_the_snapshot_itself_when_nothing_is_missing():
    shot = snapshot("Europe/Berlin", WEEK, ("DE", None), [], years=range(2026, 2029))
    assert with_years(shot, range(2026, 2029)) is shot
    assert with_years(shot, range(2027, 2028)) is shot
    assert with_years(shot, range(2030, 2030)) is shot  # no years
    plain = snapshot("Europe/Berlin", WEEK, None, [date(2031, 1, 2)], years=range(2026, 2029))
    assert with_years(plain, range(2031, 2033)) is plain
    # A payload from before `region` existed reads back without one: left as it was.
    old = CalendarSnapshot.model_validate_json(
        shot.model_dump_json(exclude={"region"}),
    )
    assert old.region is None and old.label == "DE"
    assert with_years(old, range(2031, 2033)) is old


def test_with_years_of_a_snapshot_taken_without_years():
    shot = snapshot("Europe/Berlin", WEEK, ("DE", None), [], years=range(2026, 2026))
    assert (shot.holiday_years, shot.region) == (None, ("DE", None))
    filled = with_years(shot, range(2031, 2033))
    assert filled.holiday_years == (2031, 2032)
    assert christmases(filled) == [2031, 2032]


def test_with_years_leaves_a_region_the_package_no_longer_knows():
    gone = CalendarSnapshot(working_hours=WEEK, region=("XX", None), holiday_years=(2026, 2026))
    assert with_years(gone, range(2031, 2032)) is gone


def test_a_cadence_years_on_still_skips_christmas():
    shot = snapshot("Europe/Berlin", WEEK, ("DE", None), [], years=range(2026, 2029))
    eve = datetime(2031, 12, 24, 17, tzinfo=UTC)  # Wed 18:00 in Berlin
    assert place(eve, Wait(hours=0), "working_hours", shot).due_at.day == 25  # not held
    placed = place(eve, Wait(hours=0), "working_hours", with_years(shot, range(2031, 2033)))
    assert placed.due_at == datetime(2031, 12, 29, 8, tzinfo=UTC)  # Mon 09:00 CET
    assert placed.reason == (
        "24 Dec 18:00 → Mon 29 Dec 09:00, after working hours; "
        "25 Dec Christmas Day (DE), 26 Dec Second Day of Christmas (DE)"
    )
