from datetime import UTC, datetime

import pytest

from nudge.recurring.cadence import occurrence

JAN_31 = datetime(2028, 1, 31, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cadence", "n", "expected"),
    [
        ("daily", 1, datetime(2028, 2, 1, 9, 0, tzinfo=UTC)),
        ("weekly", 2, datetime(2028, 2, 14, 9, 0, tzinfo=UTC)),
        ("biweekly", 1, datetime(2028, 2, 14, 9, 0, tzinfo=UTC)),
        ("monthly", 1, datetime(2028, 2, 29, 9, 0, tzinfo=UTC)),  # leap year, clamped
        ("monthly", 2, datetime(2028, 3, 31, 9, 0, tzinfo=UTC)),  # from the anchor, not Feb 29
        ("monthly", 3, datetime(2028, 4, 30, 9, 0, tzinfo=UTC)),
        ("quarterly", 4, datetime(2029, 1, 31, 9, 0, tzinfo=UTC)),
    ],
)
def test_occurrences_count_from_the_anchor(cadence, n, expected):
    assert occurrence(JAN_31, cadence, n) == expected
