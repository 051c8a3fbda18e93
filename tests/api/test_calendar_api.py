"""The working calendar over HTTP: defaults, saving, every bad input a 422 naming its field
that changes nothing, the ICS feed read by two independent parsers, rotation, isolation
between owners, and best send time in previews."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import ics
import pytest

from tests.support import auth

CALENDAR = "/api/account/calendar/"
RULES = "/api/task-automation/rules/"
DEFINITIONS = "/api/task-automation/sequences/definitions/"
BODY = {
    "timezone": "Europe/Berlin",
    "working_hours": {
        "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
        "tue": [["09:00", "17:30"]],
        "wed": [],
        "thu": [["09:00", "17:30"]],
        "fri": [["09:00", "15:00"]],
    },
    "holidays": {"country": "DE", "subdivision": "BY"},
    "closed_dates": ["2026-12-24", "2026-12-31"],
}


def with_(**changes) -> dict:  # type: ignore[no-untyped-def]
    return {**BODY, **changes}


async def test_default_then_saved_calendar(api, tenant):
    first = await api.get(CALENDAR, headers=auth(tenant))
    assert first.status_code == 200, first.text
    default = first.json()
    assert default["timezone"] == "UTC" and default["holidays"] is None
    assert default["working_hours"] == {
        d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    }
    assert default["feed_url"].endswith(".ics") and "/api/calendar/" in default["feed_url"]

    saved = await api.put(CALENDAR, json=BODY, headers=auth(tenant))
    assert saved.status_code == 200, saved.text
    assert saved.json()["migrated"] == 0 and saved.json()["apply_to_running"] == "none"
    again = (await api.get(CALENDAR, headers=auth(tenant))).json()
    assert {k: again[k] for k in BODY} == BODY
    assert again["feed_url"] == default["feed_url"]  # saving keeps the feed URL


BAD = [
    ("unknown-zone", with_(timezone="Mars/Olympus"), "timezone", "unknown time zone"),
    ("unknown-country", with_(holidays={"country": "XX"}), "holidays", "unknown holiday country"),
    ("unknown-subdivision", with_(holidays={"country": "DE", "subdivision": "ZZ"}), "holidays",
     "subdivision"),
    ("overlapping", with_(working_hours={"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}),
     "working_hours", "overlap"),
    ("inverted", with_(working_hours={"mon": [["17:00", "09:00"]]}), "working_hours", "mon"),
    ("bad-clock", with_(working_hours={"mon": [["9am", "17:00"]]}), "working_hours.mon.0.0",
     "pattern"),
    ("unknown-day", with_(working_hours={"monday": [["09:00", "17:00"]]}),
     "working_hours.monday.[key]", "'mon'"),
    ("no-open-hour", with_(working_hours={"mon": [], "sat": []}), "working_hours",
     "no open hour"),
    ("date-before-1970", with_(closed_dates=["1969-12-31"]), "closed_dates.0", ""),
    ("date-after-9000", with_(closed_dates=["9001-01-01"]), "closed_dates.0", ""),
    ("extra-field", with_(color="red"), "color", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "field", "word"), BAD, ids=[b[0] for b in BAD])
async def test_bad_calendars_are_422_naming_the_field_and_change_nothing(
    api, tenant, name, body, field, word
):
    await api.put(CALENDAR, json=BODY, headers=auth(tenant))
    before = (await api.get(CALENDAR, headers=auth(tenant))).json()
    resp = await api.put(CALENDAR, json=body, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert field in [e["field"] for e in error["errors"]], error
    assert word in error["detail"], error["detail"]
    assert (await api.get(CALENDAR, headers=auth(tenant))).json() == before


def rule(**more) -> dict:  # type: ignore[no-untyped-def]
    return {
        "name": f"r-{datetime.now().timestamp()}",
        "trigger_type": "status_change",
        "trigger_config": {"from_status": "*", "to_status": "active"},
        "task_title_template": "Welcome {{ contact_name }}",
        **more,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (rule(delay_business_days=-1), "delay_business_days"),
        (rule(delay_business_days=261), "delay_business_days"),
        (rule(placement="whenever"), "placement"),
    ],
    ids=["negative", "over-260", "unknown-placement"],
)
async def test_bad_rule_timing_is_422(api, tenant, body, field):
    resp = await api.post(RULES, json=body, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert field in [e["field"] for e in resp.json()["errors"]]
    assert (await api.get(RULES, headers=auth(tenant))).json()["total"] == 0


async def test_bad_step_business_days_is_422(api, tenant):
    step = {"wait": {"business_days": 261}, "title_template": "x", "anchor": "enrollment"}
    resp = await api.post(DEFINITIONS, json={"name": "n", "steps": [step]}, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert "steps.0.wait.business_days" in [e["field"] for e in resp.json()["errors"]]


async def test_rule_preview_says_where_and_why(api, tenant):
    """A working_hours rule previewed now: its due time is inside the owner's hours, shown
    in both zones, and the reason is there whenever it moved."""
    await api.put(CALENDAR, json=BODY, headers=auth(tenant))
    await api.patch(
        f"/api/contacts/{tenant.contact_id}/",
        json={"timezone": "America/New_York"},
        headers=auth(tenant),
    )
    made = await api.post(
        RULES, json=rule(delay_business_days=2, placement="working_hours"), headers=auth(tenant)
    )
    assert made.status_code == 201, made.text
    assert made.json()["delay_business_days"] == 2
    resp = await api.post(
        f"{RULES}{made.json()['id']}/preview/",
        json={"contact_id": tenant.contact_id},
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    due = datetime.fromisoformat(out["due_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    windows = BODY["working_hours"][
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[due.weekday()]
    ]
    assert any(a <= f"{due:%H:%M}" < b for a, b in windows), (due, windows)
    assert out["placement"] == "working_hours"
    assert out["due_local"].endswith("Europe/Berlin")
    assert out["due_contact_local"].endswith("America/New_York")
    assert due.date() > datetime.now(UTC).date()  # two business days on


async def add_task(api, tenant, title: str, due: datetime, **more) -> dict:  # type: ignore[no-untyped-def]
    body = {"contact_id": tenant.contact_id, "title": title, "due_at": due.isoformat(), **more}
    resp = await api.post("/api/tasks/", json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_ics_feed_lists_open_tasks_for_two_parsers_and_rotates(api, tenant, make_tenant):
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    a = await add_task(api, tenant, "Call Ada", due, priority="urgent", reminder_offset_hours=1)
    b = await add_task(api, tenant, "Mail Ada", due + timedelta(hours=3), description="Notes")
    done = await add_task(api, tenant, "Done already", due)
    assert (
        await api.post(f"/api/tasks/{done['id']}/complete/", headers=auth(tenant))
    ).status_code == 200
    other = make_tenant()
    await add_task(api, other, "Someone else's", due)

    url = (await api.get(CALENDAR, headers=auth(tenant))).json()["feed_url"]
    path = url[url.index("/api/calendar/") :]
    resp = await api.get(path)  # no API key: the URL is the secret
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/calendar")

    parsed = icalendar.Calendar.from_ical(resp.content)
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    assert set(events) == {f"task-{a['id']}@nudge", f"task-{b['id']}@nudge"}
    first = events[f"task-{a['id']}@nudge"]
    assert first.decoded("dtstart") == due
    assert str(first["summary"]) == "Call Ada" and int(first["priority"]) == 1
    alarms = first.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("trigger") == timedelta(hours=-1)
    second = events[f"task-{b['id']}@nudge"]
    assert second.decoded("dtstart") == due + timedelta(hours=3)
    assert str(second["description"]) == "Notes" and not second.walk("VALARM")

    # A second, independent reader agrees on the events and their UTC times.
    other_reader = ics.Calendar(resp.text)
    times = {e.uid: e.begin.datetime.astimezone(UTC) for e in other_reader.events}
    assert times == {
        f"task-{a['id']}@nudge": due,
        f"task-{b['id']}@nudge": due + timedelta(hours=3),
    }
    assert {e.uid: len(e.alarms) for e in other_reader.events} == {
        f"task-{a['id']}@nudge": 1,
        f"task-{b['id']}@nudge": 0,
    }

    # Completed on the next fetch: gone.
    await api.post(f"/api/tasks/{a['id']}/complete/", headers=auth(tenant))
    again = icalendar.Calendar.from_ical((await api.get(path)).content)
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == [f"task-{b['id']}@nudge"]

    rotated = await api.post(f"{CALENDAR}feed/rotate/", headers=auth(tenant))
    assert rotated.status_code == 200, rotated.text
    new_url = rotated.json()["feed_url"]
    assert new_url != url
    assert (await api.get(path)).status_code == 404
    assert (await api.get(new_url[new_url.index("/api/calendar/") :])).status_code == 200
    # The other owner's feed is theirs alone.
    theirs = (await api.get(CALENDAR, headers=auth(other))).json()["feed_url"]
    feed = (await api.get(theirs[theirs.index("/api/calendar/") :])).text
    assert "Someone else's" in feed and "Mail Ada" not in feed


async def engage(api, tenant, times: list[datetime]) -> None:  # type: ignore[no-untyped-def]
    for i, at in enumerate(times):
        resp = await api.post(
            "/api/events/activities/",
            json={"event_id": f"e-{i}-{at.timestamp()}", "contact_id": tenant.contact_id,
                  "activity_type": "email_replied", "occurred_at": at.isoformat()},
            headers=auth(tenant),
        )  # fmt: skip
        assert resp.status_code == 201, resp.text


def last_weekday_at(
    weekday: int, hour: int, minute: int, zone: ZoneInfo, weeks_ago: int
) -> datetime:
    now = datetime.now(zone)
    day = now.date() - timedelta(days=(now.weekday() - weekday) % 7 + 7 * weeks_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


async def test_best_time_snaps_to_the_busiest_hour_and_says_why(api, tenant):
    """12 replies in 90 days, 7 of them Tuesdays 10-11 Tokyo time: a best_time rule is due
    Tuesday 10:00 in Tokyo, and the preview says so with the counts."""
    tokyo = ZoneInfo("Asia/Tokyo")
    open_all_week = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    await api.put(
        CALENDAR,
        json={"timezone": "Europe/Berlin", "working_hours": open_all_week},
        headers=auth(tenant),
    )
    await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"timezone": "Asia/Tokyo"}, headers=auth(tenant)
    )
    clustered = [last_weekday_at(1, 10, 5 + 7 * i, tokyo, weeks_ago=1 + i) for i in range(7)]
    scattered = [last_weekday_at(d, 15, 0, tokyo, weeks_ago=2) for d in (0, 2, 3, 4)]
    scattered.append(last_weekday_at(1, 16, 0, tokyo, weeks_ago=3))
    await engage(api, tenant, clustered + scattered)
    made = await api.post(RULES, json=rule(placement="best_time"), headers=auth(tenant))
    resp = await api.post(
        f"{RULES}{made.json()['id']}/preview/",
        json={"contact_id": tenant.contact_id},
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    due = datetime.fromisoformat(out["due_at"]).astimezone(tokyo)
    assert (due.strftime("%a %H:%M"), out["placement"]) == ("Tue 10:00", "best_time")
    assert due - datetime.now(tokyo) <= timedelta(days=7)
    assert "7 of their 12" in out["placement_reason"], out["placement_reason"]


async def test_best_time_with_three_events_falls_back_and_says_so(api, tenant):
    await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"timezone": "Asia/Tokyo"}, headers=auth(tenant)
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    await engage(api, tenant, [last_weekday_at(1, 10, 0, tokyo, weeks_ago=w) for w in (1, 2, 3)])
    made = await api.post(RULES, json=rule(placement="best_time"), headers=auth(tenant))
    resp = await api.post(
        f"{RULES}{made.json()['id']}/preview/",
        json={"contact_id": tenant.contact_id},
        headers=auth(tenant),
    )
    out = resp.json()
    assert out["placement"] == "contact_hours"
    assert "only 3 engagements" in out["placement_reason"], out["placement_reason"]
    due = datetime.fromisoformat(out["due_at"]).astimezone(tokyo)
    assert due.weekday() < 5 and "09:00" <= f"{due:%H:%M}" < "17:00"  # the default hours
