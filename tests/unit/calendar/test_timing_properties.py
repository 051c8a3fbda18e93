"""What placing must guarantee for any calendar, zone, anchor and wait: never before the wait
ends, always inside an open window, the earliest such instant, and a longer wait never
earlier."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.calendar.timing import (
    BestHour,
    CalendarSnapshot,
    Placed,
    Wait,
    add_business_days,
    is_open,
    next_open,
    place,
)
from nudge.core.vocabulary import WEEKDAYS

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
)
PLACED = ("working_hours", "contact_hours", "best_time")
# Room for a DST night or two but no waiting on the clock.
SETTINGS = settings(max_examples=150, deadline=None)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def windows(draw: st.DrawFn) -> list[tuple[str, str]]:
    """One to three non-overlapping windows: sorted distinct minutes taken in pairs."""
    count = draw(st.integers(1, 3))
    marks = sorted(
        draw(
            st.lists(
                # Often the small hours, where clocks change.
                st.integers(0, 24 * 60) | st.sampled_from(range(0, 4 * 60, 30)),
                min_size=2 * count,
                max_size=2 * count,
                unique=True,
            )
        )
    )
    return [(clock(marks[i]), clock(marks[i + 1])) for i in range(0, 2 * count, 2)]


def _transitions() -> list[datetime]:
    """Every DST change of ZONES in 2026-2030 (to the day), where placing goes wrong first."""
    found = []
    for name in ZONES:
        zone = ZoneInfo(name)
        day = datetime(2026, 1, 1, tzinfo=UTC)
        while day.year < 2031:
            nxt = day + timedelta(days=1)
            if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
                found.append(day)
            day = nxt
    return found


anchors = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31, 23, 59), timezones=st.just(UTC)
) | st.builds(
    lambda at, minutes: at + timedelta(minutes=minutes),
    st.sampled_from(_transitions()),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
)


@st.composite
def calendars(draw: st.DrawFn, near: date) -> CalendarSnapshot:
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    # Closed dates where they matter: in the weeks after the anchor.
    closed = draw(st.lists(st.integers(-1, 60), max_size=12, unique=True))
    return CalendarSnapshot(
        timezone=draw(st.sampled_from(ZONES)),
        working_hours={day: draw(windows()) for day in days},
        closed={near + timedelta(days=k): "closed date" for k in closed},
    )


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    anchor = draw(anchors)
    return {
        "anchor": anchor,
        "calendar": draw(calendars(anchor.date())),
        "contact_tz": draw(st.none() | st.sampled_from(ZONES)),
        "best": draw(
            st.none()
            | st.builds(
                BestHour,
                weekday=st.sampled_from(WEEKDAYS),
                hour=st.integers(0, 23),
                count=st.just(5),
                total=st.just(9),
                zone=st.sampled_from(ZONES),
            )
        ),
    }


waits = st.one_of(
    st.builds(Wait, hours=st.floats(0, 2000, allow_nan=False)),
    st.builds(Wait, days=st.floats(0, 400, allow_nan=False)),
    st.builds(Wait, business_days=st.integers(0, 260)),
)


def _place(s: dict, wait: Wait, placement: str) -> Placed:
    return place(
        s["anchor"],
        wait,
        placement,  # type: ignore[arg-type]
        s["calendar"],
        contact_tz=s["contact_tz"],
        best=s["best"],
    )


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def expected(s: dict, placement: str) -> tuple[str, str]:
    """The placement and zone placing must use, from the policy and the inputs alone (never
    from what place() answered): the owner's zone for working_hours; the contact's, else the
    owner's, for contact_hours; best.zone for best_time when the best hour has working hours
    in it (the search horizon is never reached here: closed dates only fill 60 days), else
    contact hours."""
    calendar = s["calendar"]
    contact_zone = s["contact_tz"] or calendar.timezone
    if placement == "working_hours":
        return "working_hours", calendar.timezone
    best = s["best"]
    if placement == "best_time" and best is not None:
        lo, hi = best.hour * 60, (best.hour + 1) * 60
        day = calendar.working_hours.get(best.weekday, [])
        if any(minutes(start) < hi and minutes(end) > lo for start, end in day):
            return "best_time", best.zone
    return "contact_hours", contact_zone


@SETTINGS
@given(scenarios(), waits, st.sampled_from(PLACED))
def test_due_is_open_not_before_raw_and_the_earliest_open(s, wait, placement):
    placed = _place(s, wait, placement)
    policy, zone = expected(s, placement)
    calendar = s["calendar"]
    assert (placed.placement, placed.zone) == (policy, zone)
    assert placed.due_at >= placed.raw_at >= s["anchor"]
    assert placed.due_at.tzinfo is UTC and placed.raw_at.tzinfo is UTC
    assert is_open(placed.due_at, calendar, zone)
    if policy == "best_time":
        wall = placed.due_at.astimezone(ZoneInfo(zone))
        assert (WEEKDAYS[wall.weekday()], wall.hour) == (s["best"].weekday, s["best"].hour)
    else:
        # Nothing open between where the wait ends and the due time.
        assert next_open(placed.raw_at, calendar, zone)[0] == placed.due_at
        if placed.due_at > placed.raw_at:
            for at in (placed.raw_at, placed.due_at - timedelta(seconds=1)):
                assert not is_open(max(at, placed.raw_at), calendar, zone)
    assert next_open(placed.due_at, calendar, zone) == (placed.due_at, None)
    if placement == "working_hours":
        assert (placed.reason is None) == (placed.due_at == placed.raw_at)


@SETTINGS
@given(scenarios(), st.floats(0, 400, allow_nan=False), st.sampled_from(PLACED))
def test_placed_days_are_wall_clock_days(s, days, placement):
    """The anchor's wall time `days` later in the zone the wait is counted in (the owner's
    for working_hours, the contact's or else the owner's otherwise): exactly, unless that
    wall time is skipped (then the first instant after the gap) or repeated (then its first
    pass, or its second when the first is before the anchor)."""
    calendar = s["calendar"]
    zone = ZoneInfo(
        calendar.timezone if placement == "working_hours" else s["contact_tz"] or calendar.timezone
    )
    anchor = s["anchor"]
    raw = _place(s, Wait(days=days), placement).raw_at
    target = anchor.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    got = raw.astimezone(zone)
    assert raw >= anchor
    if got.replace(tzinfo=None) == target:
        # Its first pass, unless that is before the anchor.
        first = target.replace(tzinfo=zone, fold=0).astimezone(UTC)
        assert raw == first or (first < anchor and got.fold == 1)
    else:
        # Skipped: a second earlier the clock read before the target, now after it.
        before = (raw - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
        assert before < target < got.replace(tzinfo=None)
        assert (
            target.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            != target
        )


@SETTINGS
@given(scenarios(), waits)
def test_anytime_is_where_the_wait_ends(s, wait):
    placed = _place(s, wait, "anytime")
    assert placed.due_at == placed.raw_at
    assert placed.reason is None
    if wait.hours is not None:
        assert placed.raw_at == s["anchor"] + timedelta(hours=wait.hours)
    if wait.days is not None:
        assert placed.raw_at == s["anchor"] + timedelta(days=wait.days)


@st.composite
def wait_pairs(draw: st.DrawFn) -> tuple[Wait, Wait]:
    kind, amounts = draw(
        st.sampled_from(
            [
                ("hours", st.floats(0, 2000, allow_nan=False)),
                ("days", st.floats(0, 400, allow_nan=False)),
                ("business_days", st.integers(0, 260)),
            ]
        )
    )
    a, b = sorted((draw(amounts), draw(amounts)))
    return Wait(**{kind: a}), Wait(**{kind: b})


@SETTINGS
@given(scenarios(), wait_pairs(), st.sampled_from(("anytime", *PLACED)))
def test_a_longer_wait_is_never_earlier(s, pair, placement):
    shorter, longer = (_place(s, wait, placement) for wait in pair)
    assert shorter.raw_at <= longer.raw_at
    assert shorter.due_at <= longer.due_at


@SETTINGS
@given(scenarios(), st.integers(0, 260))
def test_business_days_count_exactly(s, n):
    calendar, anchor = s["calendar"], s["anchor"]
    zone = ZoneInfo(calendar.timezone)
    result = add_business_days(anchor, n, calendar, calendar.timezone)
    start, end = anchor.astimezone(zone), result.astimezone(zone)
    open_days = {WEEKDAYS.index(day) for day, spans in calendar.working_hours.items() if spans}
    counted = sum(
        1
        for k in range(1, (end.date() - start.date()).days + 1)
        if (day := start.date() + timedelta(days=k)).weekday() in open_days
        and day not in calendar.closed
    )
    assert counted == n
    if n:
        assert end.weekday() in open_days and end.date() not in calendar.closed
        # The anchor's wall time, unless that night's DST gap skipped it.
        if end.time() != start.time():
            wall = datetime.combine(end.date(), start.time(), zone)
            assert wall.astimezone(UTC).astimezone(zone).time() != wall.time()
    else:
        assert result == anchor


@SETTINGS
@given(scenarios(), waits, st.sampled_from(("anytime", *PLACED)))
def test_payloads_round_trip_through_json(s, wait, placement):
    calendar = s["calendar"]
    assert CalendarSnapshot.model_validate_json(calendar.model_dump_json()) == calendar
    placed = _place(s, wait, placement)
    assert Placed.model_validate_json(placed.model_dump_json()) == placed
