"""The calendar form: an owner's working calendar as HTML fields and back, checked as the API
checks a CalendarIn, each problem beside its field (a weekday's windows: `hours-<day>`)."""

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from api.pages.forms import problem_message
from nudge.calendar.closures import check_region
from nudge.calendar.schemas import CalendarIn, CalendarOut
from nudge.calendar.timing import validate_windows
from nudge.core.vocabulary import WEEKDAYS, ApplyToRunning

DAY_NAMES: Final = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
WINDOWS_SHOWN: Final = 3  # empty slots a day offers; a calendar saved over the API may have more
MAX_WINDOWS: Final = 24  # read per day from a post: no real day has more
WINDOW_FIELD: Final = re.compile(rf"hours-({'|'.join(WEEKDAYS)})-([0-9]{{1,2}})-(start|end)")
SHORT_HOUR: Final = re.compile(r"[0-9]:[0-5][0-9]")  # 9:00, typed for 09:00
DATE_SEPARATORS: Final = re.compile(r"[\s,;]+")
APPLY: Final[dict[ApplyToRunning, str]] = {
    "none": "Only new ones: running sequences, cadences and campaigns keep the calendar they "
    "started with.",
    "future_steps": "Running ones too: each running sequence, cadence and campaign places its "
    "next due times by this calendar (tasks already created keep theirs).",
}
DASH: Final = "\N{EN DASH}"


def _clock(text: str) -> str:
    text = text.strip()
    return f"0{text}" if SHORT_HOUR.fullmatch(text) else text


@dataclass
class CalendarForm:
    """What the form shows: the values as typed (`hours`: per weekday, [start, end] pairs),
    and a message per field that is wrong."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_calendar(cls, out: CalendarOut) -> "CalendarForm":
        hours = {day: [[s, e] for s, e in out.working_hours.get(day, [])] for day in WEEKDAYS}
        values = {
            "timezone": out.timezone,
            "hours": hours,
            "country": out.holidays.country if out.holidays else "",
            "subdivision": (out.holidays.subdivision or "") if out.holidays else "",
            "closed_dates": "\n".join(d.isoformat() for d in out.closed_dates),
            "apply": "none",
        }
        return cls(values)

    @classmethod
    def from_post(cls, form: FormData) -> "CalendarForm":
        def text(key: str) -> str:
            return str(form.get(key, "")).strip()

        slots: dict[tuple[str, int], dict[str, str]] = {}
        for key in form.keys():
            if (m := WINDOW_FIELD.fullmatch(key)) and int(m[2]) < MAX_WINDOWS:
                slots.setdefault((m[1], int(m[2])), {})[m[3]] = _clock(text(key))
        hours: dict[str, list[list[str]]] = {day: [] for day in WEEKDAYS}
        for (day, _), slot in sorted(slots.items()):
            hours[day].append([slot.get("start", ""), slot.get("end", "")])
        apply = text("apply_to_running")
        values = {
            "timezone": text("timezone"),
            "hours": hours,
            # The API takes codes in capitals; typed in small letters they mean the same.
            "country": text("country").upper(),
            "subdivision": text("subdivision").upper(),
            "closed_dates": text("closed_dates"),
            "apply": apply if apply in APPLY else "none",
        }
        return cls(values)

    def windows(self, day: str) -> list[list[str]]:
        """A day's windows as the form shows them: those typed, then empty slots up to three."""
        typed: list[list[str]] = self.values["hours"][day]
        return typed + [["", ""]] * max(0, WINDOWS_SHOWN - len(typed))

    def closed_dates(self) -> list[str]:
        return [d for d in DATE_SEPARATORS.split(self.values["closed_dates"]) if d]

    def checked(self) -> CalendarIn | None:
        """The calendar, or None with `errors` filled in (keyed by form field)."""
        v = self.values
        working: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            typed = [w for w in v["hours"][day] if any(w)]
            if typed:
                working[day] = typed
                self._check_day(day, typed)
        body: dict[str, Any] = {
            "timezone": v["timezone"],
            "working_hours": working,
            "closed_dates": self.closed_dates(),
            "apply_to_running": v["apply"],
        }
        if v["country"] or v["subdivision"]:
            body["holidays"] = {"country": v["country"], "subdivision": v["subdivision"] or None}
        try:
            calendar = CalendarIn.model_validate(body)
        except ValidationError as err:
            for problem in err.errors():
                self.errors.setdefault(*self._placed(problem))
            return None
        return None if self.errors else calendar

    def _check_day(self, day: str, windows: list[list[str]]) -> None:
        """Each day on its own, so every wrong day is shown at once (the model stops at the
        first); the model still checks the whole week."""
        if any(not (start and end) for start, end in windows):
            example = f"09:00{DASH}17:00"
            self.errors[f"hours-{day}"] = f"give each window a start and an end, e.g. {example}"
            return
        try:
            validate_windows({day: windows})
        except ValueError as err:
            self.errors[f"hours-{day}"] = str(err).removeprefix(f"{day}: ")

    def _placed(self, problem: ErrorDetails) -> tuple[str, str]:
        """(form field, message) of a CalendarIn problem."""
        loc = problem["loc"]
        where = str(loc[0]) if loc else "timezone"
        if where == "working_hours":
            return _hours_problem(problem)
        if where == "holidays":
            return self._holidays_problem(problem)
        if where == "closed_dates" and len(loc) > 1 and isinstance(loc[1], int):
            if problem["type"] == "value_error":  # a date, but outside the years kept
                return where, problem_message(problem, where)
            given = self.closed_dates()[loc[1]]
            return where, f"{given!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-24"
        return where, problem_message(problem, where)

    def _holidays_problem(self, problem: ErrorDetails) -> tuple[str, str]:
        loc = problem["loc"]
        if len(loc) > 1:  # a code that is no code at all
            name = "country" if loc[1] == "country" else "subdivision"
            if not self.values[name]:  # a region without its country
                return name, "give the country this region is in, e.g. DE for BY"
            example = "DE or US" if name == "country" else "BY (Bavaria) or CA (California)"
            return name, f"{self.values[name]!r} is not a code; use one such as {example}"
        try:  # the region is unknown: its country, or only its subdivision?
            check_region(self.values["country"], None)
        except ValueError:
            return "country", problem_message(problem, "holidays")
        return "subdivision", problem_message(problem, "holidays")


def _hours_problem(problem: ErrorDetails) -> tuple[str, str]:
    loc, message = problem["loc"], problem_message(problem, "working_hours")
    day = str(loc[1]) if len(loc) > 1 else message.split(":", 1)[0]
    if day not in WEEKDAYS:
        return "working_hours", message
    if problem["type"] == "string_pattern_mismatch":
        return f"hours-{day}", f"{problem['input']!r} is not a time; use HH:MM on a 24-hour clock"
    return f"hours-{day}", message.removeprefix(f"{day}: ")


def hours_summary(working_hours: Mapping[Any, Sequence[Sequence[str]]]) -> str:
    """The week in a line, consecutive days with the same windows together: "Mon-Fri
    09:00-17:00; Sat 10:00-14:00" (with en dashes)."""
    # Any keys: a snapshot's are Weekday literals, a row's plain strings.
    parts = []
    days = [(day, tuple(tuple(w) for w in working_hours.get(day, []))) for day in WEEKDAYS]
    for windows, run in itertools.groupby(days, key=lambda d: d[1]):
        if not windows:
            continue
        names = [day.capitalize() for day, _ in run]
        span = names[0] if len(names) == 1 else f"{names[0]}{DASH}{names[-1]}"
        parts.append(f"{span} " + ", ".join(f"{s}{DASH}{e}" for s, e in windows))
    return "; ".join(parts) or "closed every day"
