"""Where a due time lands: a wait counted from an anchor, then placed by a working calendar
(its hours, closed dates and time zone, or the contact's zone) or at the contact's best hour.

Pure: no database and no clock, only zoneinfo reads, and those only while placing: the
payload models (CalendarSnapshot, BestHour, Placed) check formats alone, so a payload read
back on a workflow's replay never depends on the installed tzdata. Instants in and out are
aware UTC; wall times are read in one IANA zone per placement. A window is the span of real
time from its start to its end, each read as a wall time: one that does not exist (the
spring-forward gap) is the next valid minute, an ambiguous one (the fall-back hour) its
first occurrence."""

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nudge.core.vocabulary import WEEKDAYS, Placement, Weekday

MAX_BUSINESS_DAYS: Final = 260
# How far an open slot is looked for before the calendar counts as never open: long enough
# for any real closure (a season's shutdown), short enough to fail in a few milliseconds.
HORIZON: Final = timedelta(days=3 * 366)
# An hours or days wait past ten years is a mistake (and far past it overflows datetime).
MAX_WAIT_DAYS: Final = 3660
# Closed dates a reason names before "and N more".
MAX_NAMED: Final = 3

_CLOCK: Final = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_DAY_ABBR: Final = tuple(day.capitalize() for day in WEEKDAYS)
_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
_DASH: Final = "\N{EN DASH}"
_WEEKEND: Final = frozenset({"sat", "sun"})
# best_time.MIN_EVENTS and LOOKBACK in words (that module imports this one, not back).
_BEST_TOO_FEW: Final = "best time: too few engagements in the last 90 days; contact hours used"

# Per weekday (date.weekday() order): sorted, non-overlapping windows in minutes from midnight.
_Windows = tuple[tuple[tuple[int, int], ...], ...]


class NoOpenSlot(ValueError):
    """The calendar has no open minute within the search horizon."""


def zone_info(name: str) -> ZoneInfo:
    """The zone, or a ValueError naming the fix for a name the installed tzdata lacks."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'"
        ) from None


def _clock(day: str, text: object, *, end: bool) -> int:
    if not isinstance(text, str) or not _CLOCK.fullmatch(text):
        raise ValueError(f"{day}: {text!r} is not a time; use HH:MM on a 24-hour clock")
    if text == "24:00" and not end:
        raise ValueError(f"{day}: 24:00 can only end a window")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _parse_windows(working_hours: Mapping[Any, Sequence[Sequence[str]]]) -> _Windows:
    # Any keys: callers hold Weekday- or str-keyed dicts (Mapping keys are invariant).
    by_day: list[tuple[tuple[int, int], ...]] = [()] * len(WEEKDAYS)
    for day, windows in working_hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}; use one of {', '.join(WEEKDAYS)}")
        spans: list[tuple[int, int]] = []
        for window in windows:
            if len(window) != 2:
                raise ValueError(f"{day}: a window is a pair of times, got {window!r}")
            start = _clock(day, window[0], end=False)
            end = _clock(day, window[1], end=True)
            if start >= end:
                raise ValueError(
                    f"{day}: window {window[0]}{_DASH}{window[1]} is empty or inverted; "
                    "its start must come before its end"
                )
            spans.append((start, end))
        spans.sort()
        for (s1, e1), (s2, e2) in itertools.pairwise(spans):
            if s2 < e1:
                raise ValueError(
                    f"{day}: windows {_hhmm(s1)}{_DASH}{_hhmm(e1)} and "
                    f"{_hhmm(s2)}{_DASH}{_hhmm(e2)} overlap"
                )
        by_day[WEEKDAYS.index(day)] = tuple(spans)
    return tuple(by_day)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def validate_windows(working_hours: Mapping[str, Sequence[Sequence[str]]]) -> None:
    """Raise ValueError naming the day and the problem: a time that is not HH:MM, an empty or
    inverted window, windows of a day that overlap, or no open hour in the whole week."""
    if not any(_parse_windows(working_hours)):
        raise ValueError("the calendar has no open hour: give at least one day working hours")


class CalendarSnapshot(BaseModel):
    """What a workflow needs to place due times, frozen when it starts (so a holidays/tz
    upgrade can't move them). Its checks are of format only: the zone is looked up when a due
    time is placed (an unknown one is a ValueError there), never when a payload is read."""

    model_config = ConfigDict(frozen=True)

    timezone: str = "UTC"  # IANA, the owner's zone
    # "mon" -> [("09:00", "12:00"), ("13:00", "17:30")]; a day absent or [] is closed.
    working_hours: dict[Weekday, list[tuple[str, str]]] = {}
    closed: dict[date, str] = {}  # closed local dates -> why ("Christmas Day (DE)")
    holiday_years: tuple[int, int] | None = None  # the years whose holidays `closed` holds
    label: str | None = None  # the holiday region, e.g. "DE-BY"
    # The holidays country and subdivision `closed` was built with, so later years can be
    # added (closures.with_years); None without holidays, and in a payload older than it.
    region: tuple[str, str | None] | None = None

    # Format, order and overlap only: a snapshot with no open hour is allowed (placing by it
    # raises NoOpenSlot), so an old payload always reads back.
    @field_validator("working_hours")
    @classmethod
    def _windows(
        cls, value: dict[Weekday, list[tuple[str, str]]]
    ) -> dict[Weekday, list[tuple[str, str]]]:
        _parse_windows(value)
        return value


DEFAULT_CALENDAR: Final = CalendarSnapshot(
    timezone="UTC",
    working_hours={day: [("09:00", "17:00")] for day in ("mon", "tue", "wed", "thu", "fri")},
)


class Wait(BaseModel):
    """How long from the anchor: exactly one of elapsed hours, elapsed days or business days."""

    model_config = ConfigDict(frozen=True)

    hours: float | None = Field(None, ge=0, le=MAX_WAIT_DAYS * 24, allow_inf_nan=False)
    days: float | None = Field(None, ge=0, le=MAX_WAIT_DAYS, allow_inf_nan=False)
    business_days: int | None = Field(None, ge=0, le=MAX_BUSINESS_DAYS)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [v for v in (self.hours, self.days, self.business_days) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of hours, days or business_days")
        return self


class BestHour(BaseModel):
    """A contact's busiest engagement hour of the week. The zone is looked up when placing,
    not when a payload is read."""

    model_config = ConfigDict(frozen=True)

    weekday: Weekday
    hour: int = Field(ge=0, le=23)  # in `zone`
    count: int = Field(ge=0)  # events in that hour-of-week
    total: int = Field(ge=0)  # events considered
    zone: str  # the zone the hour is read in

    @model_validator(mode="after")
    def _count_within_total(self) -> Self:
        if self.count > self.total:
            raise ValueError("count must not exceed total")
        return self


class Placed(BaseModel):
    """A placed due time and why it is where it is."""

    model_config = ConfigDict(frozen=True)

    due_at: datetime  # aware UTC
    raw_at: datetime  # where the wait alone ends (aware UTC)
    placement: Placement  # the policy applied (best_time may fall back to contact_hours)
    zone: str  # the zone the placement was read in
    # None when the due time is where the wait ends and the asked-for placement applied.
    reason: str | None = None

    @field_validator("due_at", "raw_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)


@dataclass(frozen=True, slots=True)
class _Hours:
    """A snapshot read in one zone, parsed once per call."""

    windows: _Windows
    closed: Mapping[date, str]
    zone: ZoneInfo
    name: str

    @classmethod
    def of(cls, calendar: CalendarSnapshot, zone: str) -> "_Hours":
        return cls(_parse_windows(calendar.working_hours), calendar.closed, zone_info(zone), zone)

    def business_day(self, day: date) -> bool:
        return bool(self.windows[day.weekday()]) and day not in self.closed

    def wall(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def to_utc(self, wall: datetime) -> datetime:
        """The instant of a wall time: a skipped one is the end of the gap (the next valid
        minute), an ambiguous one its first occurrence."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if self.wall(first) == wall:
            return first
        # In a gap the two folds read the wall time with the offsets either side of the
        # transition; the transition lies between them: bisect to it by the second.
        other = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        low = math.floor(min(first, other).timestamp())
        high = math.ceil(max(first, other).timestamp())
        while high - low > 1:
            mid = (low + high) // 2
            if self.wall(datetime.fromtimestamp(mid, UTC)) < wall:
                low = mid
            else:
                high = mid
        return datetime.fromtimestamp(high, UTC)

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's open windows as UTC spans; one wholly inside a DST gap has none."""
        if not self.business_day(day):
            return []
        midnight = datetime.combine(day, time())
        spans = []
        for start, end in self.windows[day.weekday()]:
            begin = self.to_utc(midnight + timedelta(minutes=start))
            finish = self.to_utc(midnight + timedelta(minutes=end))
            if begin < finish:
                spans.append((begin, finish))
        return spans

    def hour_span(self, day: date, hour: int) -> tuple[datetime, datetime]:
        midnight = datetime.combine(day, time())
        return (
            self.to_utc(midnight + timedelta(hours=hour)),
            self.to_utc(midnight + timedelta(hours=hour + 1)),
        )


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _no_slot(at: datetime) -> NoOpenSlot:
    return NoOpenSlot(
        f"the calendar has no open hour within {HORIZON.days} days of {at:%Y-%m-%d}: "
        "give it working hours or fewer closed dates"
    )


def _add_business_days(anchor: datetime, n: int, hours: _Hours) -> datetime:
    if n < 0:
        raise ValueError("business days must not be negative")
    if n == 0:
        return anchor
    if not any(hours.windows):
        raise _no_slot(anchor)
    wall = hours.wall(anchor)
    day = wall.date()
    # Bounded: a week holds at least one business day unless closed dates fill it.
    last = day + timedelta(weeks=n) + HORIZON
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if day > last:
            raise _no_slot(anchor)
        if hours.business_day(day):
            counted += 1
    return hours.to_utc(datetime.combine(day, wall.time()))


def _add_wall_days(anchor: datetime, days: float, hours: _Hours) -> datetime:
    """The anchor's wall time `days` calendar days (a fraction of one in wall hours) later:
    a skipped wall time is the next valid minute, an ambiguous one its first occurrence, or
    its second when the anchor is in the second (so the answer is never before the anchor).
    Non-decreasing in `days`: wall times resolve in order."""
    target = hours.wall(anchor) + timedelta(days=days)
    raw = hours.to_utc(target)
    if raw < anchor:
        raw = max(anchor, target.replace(tzinfo=hours.zone, fold=1).astimezone(UTC))
    return raw


def _next_open(at: datetime, hours: _Hours) -> datetime:
    if not any(hours.windows):
        raise _no_slot(at)
    # From the day before: its window may end after midnight in a zone that fell back.
    day = hours.wall(at).date() - timedelta(days=1)
    last = day + HORIZON
    while day <= last:
        for start, end in hours.spans(day):
            if at < end:
                return max(at, start)
        day += timedelta(days=1)
    raise _no_slot(at)


def _is_open(at: datetime, hours: _Hours) -> bool:
    day = hours.wall(at).date()
    return any(
        start <= at < end
        for near in (day - timedelta(days=1), day, day + timedelta(days=1))
        for start, end in hours.spans(near)
    )


def _day_month(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]}"


def _skipped(after: date, before: date, hours: _Hours) -> list[date]:
    """The closed dates strictly between two days that would have been open (a holiday on a
    day without working hours closed nothing)."""
    days = (after + timedelta(days=k) for k in range(1, (before - after).days))
    return [day for day in days if day in hours.closed and hours.windows[day.weekday()]]


def _why(at: datetime, to: datetime, hours: _Hours, *, show_zone: bool) -> str:
    """Why `at` moved to `to`, in the zone's wall time: the first cause, then every closed
    date skipped after it (the first MAX_NAMED, then how many more). Weekends and weekdays
    without hours are not listed; they say themselves by the weekday of `to`."""
    wall, target = hours.wall(at), hours.wall(to)
    day = wall.date()
    windows = hours.windows[day.weekday()]
    dated = False
    if not windows:
        source = _DAY_ABBR[day.weekday()]
        if WEEKDAYS[day.weekday()] in _WEEKEND:
            cause = "weekend"
        else:
            cause = f"closed on {_DAY_NAMES[day.weekday()]}s"
    elif day in hours.closed:
        source, cause, dated = _day_month(day), hours.closed[day], True
    else:
        source = f"{wall:%H:%M}"
        minute = wall.hour * 60 + wall.minute
        if minute < windows[0][0]:
            cause = "before working hours"
        elif minute >= windows[-1][1]:
            cause = "after working hours"
        else:
            cause = "outside working hours"
    skipped = _skipped(day, target.date(), hours)
    if skipped and not dated:
        # The skipped dates are named by date: so are both ends.
        source = f"{source} {_day_month(day)}" if not windows else f"{_day_month(day)} {source}"
    if target.date() == day:
        to_text = f"{target:%H:%M}"
    elif dated or skipped or (target.date() - day).days >= 7:
        to_text = f"{_DAY_ABBR[target.weekday()]} {_day_month(target.date())} {target:%H:%M}"
    else:
        to_text = f"{_DAY_ABBR[target.weekday()]} {target:%H:%M}"
    if show_zone:
        to_text += f" {hours.name}"
    reason = f"{source} → {to_text}, {cause}"
    if skipped:
        shown = skipped[: MAX_NAMED - dated]
        reason += "; " + ", ".join(f"{_day_month(d)} {hours.closed[d]}" for d in shown)
        if len(skipped) > len(shown):
            reason += f" and {len(skipped) - len(shown)} more"
    return reason


def _best_slot(raw: datetime, hours: _Hours, best: BestHour) -> datetime | None:
    """The first instant >= raw inside the best hour of an open day and inside an open window:
    the hour's start, a window's start within the hour, or raw itself when raw is in it. One
    fixed set of instants, so a later raw never gets an earlier slot."""
    weekday = WEEKDAYS.index(best.weekday)
    day = hours.wall(raw).date() - timedelta(days=1)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    last = day + HORIZON
    while day <= last:
        if hours.business_day(day):
            hour_start, hour_end = hours.hour_span(day, best.hour)
            for start, end in hours.spans(day):
                begin = max(start, hour_start, raw)
                if begin < min(end, hour_end):
                    return begin
        day += timedelta(weeks=1)
    return None


def _hour_text(best: BestHour) -> str:
    return f"{best.weekday.capitalize()} {best.hour}{_DASH}{best.hour + 1}"


def _best_reason(due: datetime, hours: _Hours, best: BestHour) -> str:
    wall = hours.wall(due)
    return (
        f"{_DAY_ABBR[wall.weekday()]} {wall:%H:%M} {hours.name}: {best.count} of their "
        f"{best.total} engagements came {_hour_text(best)}"
    )


def place(
    anchor: datetime,
    wait: Wait,
    placement: Placement,
    calendar: CalendarSnapshot,
    *,
    contact_tz: str | None = None,
    best: BestHour | None = None,
) -> Placed:
    """Count the wait from the anchor, then place the due time by the policy.

    The zone is the owner's for anytime and working_hours, the contact's (else the owner's)
    for contact_hours and best_time, and best.zone for a due time at the best hour. The wait
    is counted in that zone (best_time's in the contact's): `hours` are elapsed time,
    `business_days` keep the anchor's wall time on the nth open day after its date, and
    `days` are calendar days on the wall clock (Fri 09:00 + 3 is Mon 09:00 local, across a
    clock change too), a skipped wall time the next valid minute and an ambiguous one its
    first occurrence (never before the anchor). `anytime` alone counts `days` as elapsed
    time (24 h each), as it always has. The reason is None when the due time is where the
    wait ends and the asked-for placement applied; else it gives the cause of the move, the
    closed dates it skipped and any fallback. Raises ValueError for a zone the installed
    tzdata lacks, and NoOpenSlot when no window opens within HORIZON (or no business day can
    be counted)."""
    anchor = _as_utc(anchor)
    contact_side = placement in ("contact_hours", "best_time")
    zone = (contact_tz or calendar.timezone) if contact_side else calendar.timezone
    # anytime reads the zone only to count business days.
    needs_zone = placement != "anytime" or wait.business_days is not None
    hours = _Hours.of(calendar, zone) if needs_zone else None
    if wait.hours is not None:
        raw = anchor + timedelta(hours=wait.hours)
    elif wait.business_days is not None:
        assert hours is not None
        raw = _add_business_days(anchor, wait.business_days, hours)
    else:
        assert wait.days is not None
        if hours is None:
            # anytime: elapsed days (24 h each), as the due times of running workflows were.
            raw = anchor + timedelta(days=wait.days)
        else:
            raw = _add_wall_days(anchor, wait.days, hours)
    if placement == "anytime":
        return Placed(due_at=raw, raw_at=raw, placement=placement, zone=zone, reason=None)
    assert hours is not None

    notes: list[str] = []
    if placement == "best_time":
        if best is None:
            notes.append(_BEST_TOO_FEW)
        else:
            # The hour was counted in best.zone, so the windows are read there too.
            best_hours = hours if best.zone == zone else _Hours.of(calendar, best.zone)
            day_windows = best_hours.windows[WEEKDAYS.index(best.weekday)]
            if not any(s < (best.hour + 1) * 60 and e > best.hour * 60 for s, e in day_windows):
                notes.append(
                    f"best time {_hour_text(best)} is outside working hours; contact hours used"
                )
            elif (slot := _best_slot(raw, best_hours, best)) is not None:
                return Placed(
                    due_at=slot,
                    raw_at=raw,
                    placement="best_time",
                    zone=best.zone,
                    reason=_best_reason(slot, best_hours, best),
                )
            else:
                notes.append(
                    f"best time {_hour_text(best)} is closed for {HORIZON.days} days; "
                    "contact hours used"
                )

    due = _next_open(raw, hours)
    if due != raw:
        move = _why(raw, due, hours, show_zone=contact_side and bool(contact_tz))
        if contact_side and not contact_tz:
            move += "; contact has no time zone; owner's used"
        notes.insert(0, move)
    return Placed(
        due_at=due,
        raw_at=raw,
        placement="contact_hours" if contact_side else "working_hours",
        zone=zone,
        reason="; ".join(notes) or None,
    )


def add_business_days(anchor: datetime, n: int, calendar: CalendarSnapshot, zone: str) -> datetime:
    """The anchor's wall time in `zone`, n business days later (days with working hours that
    are not closed); n=0 is the anchor itself."""
    return _add_business_days(_as_utc(anchor), n, _Hours.of(calendar, zone))


def next_open(at: datetime, calendar: CalendarSnapshot, zone: str) -> tuple[datetime, str | None]:
    """The earliest open instant >= at (aware UTC), and why it moved (None when it did not).
    Raises ValueError for an unknown zone, NoOpenSlot when nothing opens within HORIZON."""
    at = _as_utc(at)
    hours = _Hours.of(calendar, zone)
    due = _next_open(at, hours)
    return due, None if due == at else _why(at, due, hours, show_zone=False)


def is_open(at: datetime, calendar: CalendarSnapshot, zone: str) -> bool:
    """Whether `at` lies inside a window of an open day, read in `zone`."""
    return _is_open(_as_utc(at), _Hours.of(calendar, zone))
