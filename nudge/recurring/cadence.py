"""Cadence arithmetic: when the n-th check-in of a cadence falls due."""

import calendar
from datetime import datetime, timedelta
from typing import Final

from nudge.core.vocabulary import Cadence

CADENCE_MONTHS: Final[dict[Cadence, int]] = {"monthly": 1, "quarterly": 3}
CADENCE_DAYS: Final[dict[Cadence, int]] = {"daily": 1, "weekly": 7, "biweekly": 14}


def _add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, keeping the day where it exists: Jan 31 + 1 → Feb 28 (or 29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def occurrence(anchor: datetime, cadence: Cadence, n: int) -> datetime:
    """The n-th occurrence after `anchor` (n = 1 is one period later). Always counted from the
    anchor, never from the previous occurrence, so Jan 31 → Feb 28 → Mar 31, not Mar 28."""
    if cadence in CADENCE_DAYS:
        return anchor + timedelta(days=CADENCE_DAYS[cadence] * n)
    return _add_months(anchor, CADENCE_MONTHS[cadence] * n)
