"""Calendar-aware timing over HTTP on the time-skipping server: a business-day sequence in
the contact's hours started on a Friday evening, a rule firing placed in working hours, and
due times that a change of the holidays data under a running workflow does not move."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from nudge.calendar import closures, snapshots
from nudge.calendar.payloads import CalendarChange
from nudge.calendar.timing import CalendarSnapshot
from tests.support import auth, poll
from worker import WORKFLOWS

BERLIN, TOKYO = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")
DEFINITIONS = "/api/task-automation/sequences/definitions/"
WEEKDAYS_9_TO_5 = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


async def set_calendar(api, tenant, **more) -> dict:  # type: ignore[no-untyped-def]
    body = {"timezone": "Europe/Berlin", "working_hours": WEEKDAYS_9_TO_5, **more}
    resp = await api.put("/api/account/calendar/", json=body, headers=auth(tenant))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def set_zone(api, tenant, zone: str | None) -> None:  # type: ignore[no-untyped-def]
    resp = await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"timezone": zone}, headers=auth(tenant)
    )
    assert resp.status_code == 200, resp.text


async def move_to(time_env, when: datetime) -> None:  # type: ignore[no-untyped-def]
    now = await time_env.get_current_time()
    if when > now:
        await time_env.sleep(when - now)


async def tasks(api, tenant) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=auth(tenant))
    return sorted(resp.json()["items"], key=lambda t: t["due_at"])


def next_weekday_at(now: datetime, weekday: int, hour: int, zone: ZoneInfo) -> datetime:
    """The first `weekday` (0 = Monday) at hour:00 local after now + 1 hour."""
    day = (now + timedelta(hours=1)).astimezone(zone).date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        if day.weekday() == weekday and at > now + timedelta(hours=1):
            return at.astimezone(UTC)
        day += timedelta(days=1)


def at(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)


async def test_business_days_in_the_contacts_hours_from_a_friday_evening(api, time_env, tenant):
    """Owner in Berlin (Mon-Fri 09-17), contact in Tokyo, enrolled Friday 19:00 Berlin (Sat
    03:00 in Tokyo): 1 business day → Monday in Tokyo, 03:00 is before hours → 09:00 Tokyo;
    2 business days after that → Wednesday 09:00 Tokyo. Each task appears at its due time."""
    await set_calendar(api, tenant)
    await set_zone(api, tenant, "Asia/Tokyo")
    steps = [
        {"id": "call", "kind": "call", "wait": {"business_days": 1}, "anchor": "enrollment",
         "placement": "contact_hours", "title_template": "Call {{ contact_name }}"},
        {"id": "mail", "kind": "email", "wait": {"business_days": 2},
         "placement": "contact_hours", "title_template": "Mail {{ contact_name }}"},
    ]  # fmt: skip
    made = await api.post(DEFINITIONS, json={"name": "Tokyo", "steps": steps}, headers=auth(tenant))
    assert made.status_code == 201, made.text
    friday = next_weekday_at(await time_env.get_current_time(), 4, 19, BERLIN)
    await move_to(time_env, friday)
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": made.json()["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    saturday_tokyo = friday.astimezone(TOKYO).date()
    assert saturday_tokyo.weekday() == 5
    monday = at(saturday_tokyo + timedelta(days=2), 9, TOKYO)
    wednesday = at(saturday_tokyo + timedelta(days=4), 9, TOKYO)
    # The answer already shows the placed plan (the workflow asks the same function).
    planned = [datetime.fromisoformat(p["due_at"]) for p in started.json()["planned"]]
    assert planned == [monday, wednesday]

    for due, count in ((monday, 1), (wednesday, 2)):
        await move_to(time_env, due - timedelta(minutes=5))
        assert len(await tasks(api, tenant)) == count - 1, f"before {due}"
        await move_to(time_env, due + timedelta(minutes=5))
        made_now = await poll(lambda: tasks(api, tenant), lambda ts, c=count: len(ts) == c)
        assert len(made_now) == count, f"at {due}"
    due_times = [datetime.fromisoformat(t["due_at"]) for t in await tasks(api, tenant)]
    assert due_times == [monday, wednesday]
    assert [d.astimezone(TOKYO).strftime("%a %H:%M") for d in due_times] == [
        "Mon 09:00",
        "Wed 09:00",
    ]
    progress = await api.get(
        f"/api/task-automation/sequences/{started.json()['workflow_id']}/", headers=auth(tenant)
    )
    reasons = [s["placement_reason"] for s in progress.json()["steps"]]
    assert reasons[0] and "before working hours" in reasons[0], reasons


async def test_a_rule_firing_in_working_hours_lands_monday_nine(api, time_env, tenant):
    """An email opened on Saturday 11:00 Berlin, rule delay 2 h, placement working_hours:
    due Monday 09:00 Berlin, the task written then and not before."""
    await set_calendar(api, tenant)
    rule = {
        "name": "Weekend opens",
        "trigger_type": "activity",
        "trigger_config": {"activity_types": ["email_opened"]},
        "task_title_template": "Follow up with {{ contact_name }}",
        "delay_hours": 2,
        "placement": "working_hours",
    }
    made = await api.post("/api/task-automation/rules/", json=rule, headers=auth(tenant))
    assert made.status_code == 201, made.text
    assert made.json()["placement"] == "working_hours"
    saturday = next_weekday_at(await time_env.get_current_time(), 5, 11, BERLIN)
    await move_to(time_env, saturday)
    sent = await api.post(
        "/api/events/activities/",
        # The server's clock is the test server's: the event says when it happened.
        json={"event_id": "open-1", "contact_id": tenant.contact_id,
              "activity_type": "email_opened", "occurred_at": saturday.isoformat()},
        headers=auth(tenant),
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    monday = at(saturday.astimezone(BERLIN).date() + timedelta(days=2), 9, BERLIN)
    assert datetime.fromisoformat(sent.json()["firings"][0]["due_at"]) == monday

    await move_to(time_env, monday - timedelta(minutes=5))
    assert await tasks(api, tenant) == []
    await move_to(time_env, monday + timedelta(minutes=5))
    made_tasks = await poll(lambda: tasks(api, tenant), lambda ts: len(ts) == 1)
    assert [datetime.fromisoformat(t["due_at"]) for t in made_tasks] == [monday]


def business_days_after(day: date, n: int, closed: set[date]) -> date:
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in closed:
            n -= 1
    return day


def christmas_eve_after(now: datetime) -> date:
    """A Dec 24 ahead on a Monday-Thursday whose next Jan 1 is a weekday too: then Dec 25,
    Dec 26 (if a weekday) and Jan 1 are working days without German holidays, closed with."""
    year = now.year
    while True:
        eve = date(year, 12, 24)
        if (
            eve.weekday() <= 3
            and date(year + 1, 1, 1).weekday() < 5
            and at(eve, 10, BERLIN) > now + timedelta(hours=1)
        ):
            return eve
        year += 1


@pytest.fixture
def holidays_upgraded(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """What a `holidays` upgrade that dropped Christmas would do to a fresh lookup."""

    def upgrade() -> None:
        monkeypatch.setattr(closures, "public_holidays", lambda *args, **kwargs: {})
        snapshots._frozen.cache_clear()

    yield upgrade
    snapshots._frozen.cache_clear()


async def test_holiday_data_changing_under_a_running_workflow_moves_no_due_time(
    api, time_env, time_worker, tenant, holidays_upgraded
):
    """Enrolled on Dec 24 10:00 Berlin with German holidays: step 1 is 1 business day later
    (Dec 25/26 closed), step 2 four business days after step 1 (Jan 1 closed). The holidays
    data then changes (no holidays at all) after step 1 was placed and before step 2 is: the
    running enrollment still skips Jan 1 (its calendar was frozen at the start), a preview of
    a new start does not skip Christmas, and the history replays under the changed data."""
    await set_calendar(api, tenant, holidays={"country": "DE"})
    steps = [
        {"id": "s1", "wait": {"business_days": 1}, "anchor": "enrollment",
         "placement": "working_hours", "title_template": "After Christmas"},
        {"id": "s2", "wait": {"business_days": 4}, "anchor": "previous_due",
         "placement": "working_hours", "title_template": "After New Year"},
    ]  # fmt: skip
    made = await api.post(DEFINITIONS, json={"name": "Xmas", "steps": steps}, headers=auth(tenant))
    assert made.status_code == 201, made.text
    eve = christmas_eve_after(await time_env.get_current_time())
    holidays = {date(eve.year, 12, 25), date(eve.year, 12, 26), date(eve.year + 1, 1, 1)}
    first_day = business_days_after(eve, 1, holidays)
    second_day = business_days_after(first_day, 4, holidays)
    assert second_day != business_days_after(first_day, 4, set())  # Jan 1 matters
    await move_to(time_env, at(eve, 10, BERLIN))
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": made.json()["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    # The wall time of the start is kept (to the millisecond the test server started it).
    first = datetime.fromisoformat(started.json()["planned"][0]["due_at"])
    assert abs(first - at(first_day, 10, BERLIN)) < timedelta(seconds=1)
    second = first + (at(second_day, 10, BERLIN) - at(first_day, 10, BERLIN))

    holidays_upgraded()
    preview = await api.post(
        f"{DEFINITIONS}{made.json()['id']}/preview/",
        json={"contact_id": tenant.contact_id, "start_at": at(eve, 10, BERLIN).isoformat()},
        headers=auth(tenant),
    )
    assert preview.status_code == 200, preview.text
    # A new start would now take Dec 25 (the data says it is a working day)...
    assert datetime.fromisoformat(preview.json()["steps"][0]["due_at"]) == at(
        eve + timedelta(days=1), 10, BERLIN
    )
    # ...but the running enrollment places step 2 by the calendar it started with.
    await move_to(time_env, second + timedelta(minutes=5))
    made_tasks = await poll(lambda: tasks(api, tenant), lambda ts: len(ts) == 2)
    assert [datetime.fromisoformat(t["due_at"]) for t in made_tasks] == [first, second]

    client: Client = time_env.client
    handle = client.get_workflow_handle(started.json()["workflow_id"])
    done = await poll(
        handle.describe, lambda d: d.status is not None and d.status.name == "COMPLETED"
    )
    assert done.status is not None and done.status.name == "COMPLETED"
    history = await handle.fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=client.data_converter).replay_workflow(
        history
    )


async def test_a_weekly_cadence_in_working_hours_skips_the_weekend(api, time_env, tenant):
    """Check-ins started on a Saturday 11:00 Berlin, placement working_hours: each one is due
    the Monday after, 09:00 (a cadence date on a closed day rolls to the next open slot)."""
    await set_calendar(api, tenant)
    saturday = next_weekday_at(await time_env.get_current_time(), 5, 11, BERLIN)
    await move_to(time_env, saturday)
    started = await api.post(
        "/api/task-automation/schedule-recurring/",
        json={"contact_id": tenant.contact_id, "cadence": "weekly", "placement": "working_hours"},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    first_saturday = saturday.astimezone(BERLIN).date() + timedelta(days=7)
    mondays = [at(first_saturday + timedelta(days=2 + 7 * k), 9, BERLIN) for k in range(2)]
    # The answer already shows where the first one lands, and why.
    assert started.json()["next_due_at"] == mondays[0].isoformat(), started.json()
    assert "weekend" in started.json()["placement_reason"]
    assert started.json()["due_local"].endswith("09:00 Europe/Berlin")
    assert started.json()["due_contact_local"] is None  # the contact has no zone

    async def shown() -> dict:
        url = f"/api/task-automation/recurring/{tenant.contact_id}/"
        return (await api.get(url, headers=auth(tenant))).json()

    placed = await poll(shown, lambda p: p["next_due_at"] == mondays[0].isoformat())
    assert (placed["next_due_at"], placed["placement"]) == (mondays[0].isoformat(), "working_hours")
    assert "weekend" in placed["placement_reason"], placed
    for k, monday in enumerate(mondays, start=1):
        await move_to(time_env, monday - timedelta(minutes=5))
        assert len(await tasks(api, tenant)) == k - 1
        await move_to(time_env, monday + timedelta(minutes=5))
        made = await poll(lambda: tasks(api, tenant), lambda ts, k=k: len(ts) == k)
        assert [datetime.fromisoformat(t["due_at"]) for t in made] == mondays[:k]
    stopped = await api.delete(
        f"/api/task-automation/recurring/{tenant.contact_id}/", headers=auth(tenant)
    )
    assert stopped.status_code == 204


async def test_a_placed_campaign_counts_each_step_from_the_placed_one(api, time_env, tenant):
    """A working_hours campaign enrolled Friday 16:00 Berlin: step 1 (0 days) now, inside the
    hours; step 2 one day later is Saturday 16:00 → Monday 09:00; step 3 one day after that
    placed Monday, Tuesday 09:00."""
    await set_calendar(api, tenant)
    campaign = {
        "name": "Placed",
        "placement": "working_hours",
        "steps": [
            {"message_type": "task", "name": "One", "delay_days": 0, "order": 1},
            {"message_type": "task", "name": "Two", "delay_days": 1, "order": 2},
            {"message_type": "task", "name": "Three", "delay_days": 1, "order": 3},
        ],
    }
    made = await api.post("/api/campaigns/", json=campaign, headers=auth(tenant))
    assert made.status_code == 201, made.text
    assert made.json()["placement"] == "working_hours"
    friday = next_weekday_at(await time_env.get_current_time(), 4, 16, BERLIN)
    await move_to(time_env, friday)
    enrolled = await api.post(
        f"/api/campaigns/{made.json()['id']}/enroll/",
        json={"contact_ids": [tenant.contact_id]},
        headers=auth(tenant),
    )
    assert enrolled.status_code == 200, enrolled.text
    day = friday.astimezone(BERLIN).date()
    monday, tuesday = at(day + timedelta(days=3), 9, BERLIN), at(day + timedelta(days=4), 9, BERLIN)
    await move_to(time_env, tuesday + timedelta(minutes=5))
    made_tasks = await poll(lambda: tasks(api, tenant), lambda ts: len(ts) == 3)
    due = [datetime.fromisoformat(t["due_at"]) for t in made_tasks]
    assert abs(due[0] - friday) < timedelta(seconds=5)
    assert due[1:] == [monday, tuesday]


async def test_a_calendar_change_reaches_running_enrollments_only_when_asked(api, time_env, tenant):
    """Two enrollments wait on a working_hours step due Monday 09:00 Berlin. A new calendar
    (New York) saved with apply_to_running none moves neither; saved again with future_steps
    it tells both (migrated 2), and each is then due Monday 09:00 New York time."""
    await set_calendar(api, tenant)
    other = await api.post(
        "/api/contacts/", json={"external_id": "second", "name": "Grace"}, headers=auth(tenant)
    )
    contacts = [tenant.contact_id, other.json()["id"]]
    steps = [{"id": "s1", "wait": {"hours": 1}, "anchor": "enrollment",
              "placement": "working_hours", "title_template": "Hi {{ contact_name }}"}]  # fmt: skip
    made = await api.post(DEFINITIONS, json={"name": "Adopt", "steps": steps}, headers=auth(tenant))
    saturday = next_weekday_at(await time_env.get_current_time(), 5, 11, BERLIN)
    await move_to(time_env, saturday)
    runs = []
    for contact in contacts:
        started = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": contact, "definition_id": made.json()["id"]},
            headers=auth(tenant),
        )
        assert started.status_code == 201, started.text
        runs.append(started.json()["workflow_id"])
    monday = saturday.astimezone(BERLIN).date() + timedelta(days=2)

    async def due_times() -> list[datetime | None]:
        out = []
        for run in runs:
            resp = await api.get(f"/api/task-automation/sequences/{run}/", headers=auth(tenant))
            due = resp.json()["steps"][0]["due_at"]
            out.append(datetime.fromisoformat(due) if due else None)
        return out

    berlin_nine = at(monday, 9, BERLIN)
    assert await poll(due_times, lambda d: d == [berlin_nine] * 2) == [berlin_nine] * 2
    new_york = {"timezone": "America/New_York", "working_hours": WEEKDAYS_9_TO_5}
    kept = await api.put("/api/account/calendar/", json=new_york, headers=auth(tenant))
    assert kept.json()["migrated"] == 0
    assert await due_times() == [berlin_nine] * 2
    moved = await api.put(
        "/api/account/calendar/",
        json={**new_york, "apply_to_running": "future_steps"},
        headers=auth(tenant),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["migrated"] == 2
    ny_nine = at(monday, 9, ZoneInfo("America/New_York"))
    assert await poll(due_times, lambda d: d == [ny_nine] * 2) == [ny_nine] * 2
    # A change older than the one it has (two saves delivered out of order) is ignored.
    stale = CalendarChange(
        calendar=CalendarSnapshot(timezone="Asia/Tokyo", working_hours=WEEKDAYS_9_TO_5),
        revision=1.0,
    )
    await time_env.client.get_workflow_handle(runs[0]).signal("adopt_calendar", stale)
    await asyncio.sleep(0.3)
    assert await due_times() == [ny_nine] * 2
    await move_to(time_env, ny_nine + timedelta(minutes=5))
    made_tasks = await poll(
        lambda: api.get("/api/tasks/", headers=auth(tenant)),
        lambda r: r.json()["total"] == 2,
    )
    assert {t["due_at"] for t in made_tasks.json()["items"]} == {ny_nine.isoformat()}


async def test_a_live_edit_adding_a_placed_step_uses_the_owners_calendar(api, time_env, tenant):
    """An enrollment started with only anytime steps holds no calendar; a live edit makes
    its next step working_hours: it is placed by the owner's calendar (Berlin 13:00-17:00),
    not a default one."""
    afternoons = {d: [["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    await set_calendar(api, tenant, working_hours=afternoons)
    step = {"id": "s1", "wait": {"days": 2}, "anchor": "enrollment", "title_template": "Hi"}
    made = await api.post(DEFINITIONS, json={"name": "Edit", "steps": [step]}, headers=auth(tenant))
    saturday = next_weekday_at(await time_env.get_current_time(), 5, 11, BERLIN)
    await move_to(time_env, saturday)
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": made.json()["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    edited = await api.patch(
        f"{DEFINITIONS}{made.json()['id']}/",
        json={"steps": [step | {"placement": "working_hours"}], "apply_to_running": "future_steps"},
        headers=auth(tenant),
    )
    assert edited.status_code == 200 and edited.json()["migrated"] == 1, edited.text
    monday = saturday.astimezone(BERLIN).date() + timedelta(days=2)
    # Two days after Saturday 11:00 is Monday 11:00: before the afternoon window.
    expected = at(monday, 13, BERLIN)
    url = f"/api/task-automation/sequences/{started.json()['workflow_id']}/"

    async def due() -> str | None:
        return (await api.get(url, headers=auth(tenant))).json()["steps"][0]["due_at"]

    assert await poll(due, lambda d: d == expected.isoformat()) == expected.isoformat()


async def test_placed_daily_check_ins_keep_one_task_per_cadence_date(api, time_env, tenant):
    """Daily check-ins in working hours, started Thursday 10:00 Berlin: Saturday's and
    Sunday's move to Monday 09:00 and stay two tasks (keyed by their cadence dates), and
    Monday's own is still made."""
    await set_calendar(api, tenant)
    thursday = next_weekday_at(await time_env.get_current_time(), 3, 10, BERLIN)
    await move_to(time_env, thursday)
    started = await api.post(
        "/api/task-automation/schedule-recurring/",
        json={"contact_id": tenant.contact_id, "cadence": "daily", "placement": "working_hours"},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    day = thursday.astimezone(BERLIN).date()
    expected = [
        at(day + timedelta(days=1), 10, BERLIN),  # Friday
        at(day + timedelta(days=4), 9, BERLIN),  # Saturday's, on Monday
        at(day + timedelta(days=4), 9, BERLIN),  # Sunday's, on Monday
        at(day + timedelta(days=4), 10, BERLIN),  # Monday's own
        at(day + timedelta(days=5), 10, BERLIN),  # Tuesday
    ]
    await move_to(time_env, expected[-1] + timedelta(minutes=5))
    made = await poll(lambda: tasks(api, tenant), lambda ts: len(ts) == 5)
    due = sorted(datetime.fromisoformat(t["due_at"]) for t in made)
    # Each check-in keeps the wall time of the start; the test server's start may be a few
    # milliseconds after 10:00.
    assert [abs(d - e) < timedelta(seconds=1) for d, e in zip(due, expected, strict=True)] == [
        True
    ] * 5, due
    await api.delete(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=auth(tenant))
