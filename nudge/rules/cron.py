"""Cron expressions of time rules: read by croniter, limited to the five-field form Temporal
Schedules share, read as Temporal reads them, and their next runs for previews."""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter

CRON_EXAMPLE: Final = '"0 9 * * MON"'
CRON_FIELDS: Final = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
CRON_NAMES: Final[dict[int, tuple[str, ...]]] = {
    3: ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    4: ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
}
CRON_SYNTAX: Final = "numbers, *, ranges (1-5), lists (1,3) and steps (*/15)"
# Temporal fires only where day of month AND day of week both match (croniter's default is
# either, as in classic cron): previews and the never-fires check read crons as Temporal does.
DAY_OR: Final = False


def _cron_field_problem(index: int, text: str) -> str | None:
    """What is wrong with one field, read alone (None: croniter reads it, Temporal too)."""
    name, low, high = CRON_FIELDS[index]
    names = CRON_NAMES.get(index, ())
    works = CRON_SYNTAX + (f", names like {names[1]}" if names else "")
    upper = text.upper()
    odd = re.search(r"[^0-9A-Z*,/-]", upper)
    if odd:
        return f"cron {name} {text!r}: {odd.group()!r} is not supported; use {works}"
    for word in re.findall(r"[A-Z]+", upper):
        if word not in names:
            return f"cron {name} {text!r}: {word!r} is not supported; use {works}"
    for start, end in re.findall(r"(?<![/0-9])([0-9]+)-([0-9]+)", upper):
        if int(start) > int(end):
            # croniter wraps such a range around; Temporal reads only its start.
            return (
                f"cron {name} range {start}-{end} runs backwards; write it as two ranges "
                f"or a list, e.g. {start}-{high},{low}-{end}"
            )
    alone = ["*"] * len(CRON_FIELDS)
    alone[index] = text
    if croniter.is_valid(" ".join(alone)):
        return None
    for value in re.findall(r"(?<![/0-9])[0-9]+", upper):  # values, not steps
        if not low <= int(value) <= high:
            return f"cron {name} {int(value)} is outside {low}-{high}"
    if any(int(step) == 0 for step in re.findall(r"/([0-9]+)", upper)):
        return f"cron {name} {text!r}: a step must be 1 or more, e.g. */15"
    return f"cron {name} {text!r} is not a value, range, * or step; use {works}"


def check_cron(expr: str) -> str:
    """`expr`, if it is five fields that croniter and Temporal read alike, and it ever fires;
    else ValueError naming the fix."""
    fields = expr.split()
    if fields and fields[0].startswith("@"):
        raise ValueError(
            f"cron shortcuts like {fields[0]} are not supported; write the five fields, "
            f"e.g. {CRON_EXAMPLE}"
        )
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"cron must have five fields, e.g. {CRON_EXAMPLE} (minute hour day-of-month month "
            f"day-of-week); got {len(fields)}"
        )
    for index, text in enumerate(fields):
        problem = _cron_field_problem(index, text)
        if problem:
            raise ValueError(problem)
    if not croniter.is_valid(expr):
        raise ValueError(f"cron {expr!r} is not a valid cron expression, e.g. {CRON_EXAMPLE}")
    try:
        croniter(expr, datetime.now(UTC), day_or=DAY_OR).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(
            f"cron {expr!r} never fires: no date has that day of month in that month "
            "(e.g. 30 February), or on that weekday (Temporal needs both to match); "
            "pick a day that exists"
        ) from None
    return expr


def next_runs(config: Mapping[str, Any], after: datetime, count: int = 5) -> list[datetime]:
    """When a time rule (its stored config) runs next after `after`, in UTC. A cron is read in
    the rule's time zone, so its UTC hour moves with daylight saving time; an `at` runs once,
    if it is still ahead."""
    if "at" in config:
        at = datetime.fromisoformat(config["at"]).astimezone(UTC)
        return [at] if at > after else []
    zone = ZoneInfo(config.get("timezone", "UTC"))
    try:
        runs = croniter(config["cron"], after.astimezone(zone), day_or=DAY_OR)
        return [runs.get_next(datetime).astimezone(UTC) for _ in range(count)]
    except CroniterError:  # saved before croniter checked crons: it may never fire
        return []
