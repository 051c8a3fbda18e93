from datetime import UTC, datetime

import pytest

from nudge.sequences.presets import SEQUENCE_PRESETS, sequence_due_times

ANCHOR = datetime(2026, 3, 28, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "days"),
    [("standard", [1, 3, 7, 14]), ("aggressive", [1, 2, 4, 7]), ("gentle", [3, 7, 14, 30])],
)
def test_presets_match_the_seed(preset, days):
    assert list(SEQUENCE_PRESETS[preset]) == days


def test_due_times_count_from_anchor_plus_delay():
    due = sequence_due_times("aggressive", ANCHOR, 1.5)
    assert due[0] == datetime(2026, 3, 29, 11, 0, tzinfo=UTC)
    assert due[-1] == datetime(2026, 4, 4, 11, 0, tzinfo=UTC)
