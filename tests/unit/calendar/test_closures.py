"""Public holidays by region, in English with the region's label, and the snapshot that
freezes them with an owner's own closed dates."""

from datetime import date

import pytest

from nudge.calendar.closures import check_region, public_holidays, snapshot
from nudge.calendar.timing import CalendarSnapshot

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
    assert list(shot.closed) == sorted(shot.closed)
    assert shot.working_hours == HOURS
    assert CalendarSnapshot.model_validate_json(shot.model_dump_json()) == shot


def test_snapshot_without_holidays():
    shot = snapshot("UTC", HOURS, None, [date(2026, 8, 14)], years=range(2026, 2029))
    assert shot.closed == {date(2026, 8, 14): "closed date"}
    assert shot.holiday_years is None
    assert shot.label is None


def test_snapshot_checks_the_region():
    with pytest.raises(ValueError, match="unknown holiday country"):
        snapshot("UTC", HOURS, ("ZZ", None), [], years=range(2026, 2027))
