"""Custom sequences over HTTP on the time-skipping server: each step's task at its due time
and not before, mixed anchors, waiting for a completion, max_wait, and every exit condition."""

from datetime import datetime, timedelta

import pytest

from tests.support import auth, poll

DEFINITIONS = "/api/task-automation/sequences/definitions/"


def step(step_id: str, kind: str, wait: dict, anchor: str = "previous_due", **more) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": step_id,
        "kind": kind,
        "wait": wait,
        "anchor": anchor,
        "title_template": "{{ step_number }}/{{ step_count }} " + kind + " {{ contact_name }}",
        "description_template": "{{ sequence_name }}",
        **more,
    }


async def define(api, tenant, steps: list[dict], **more) -> dict:  # type: ignore[no-untyped-def]
    body = {"name": f"seq-{datetime.now().timestamp()}", "steps": steps, **more}
    resp = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def enroll(api, tenant, definition_id: int) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": definition_id},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def tasks(api, tenant) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=auth(tenant))
    return resp.json()["items"]


async def progress(api, tenant, workflow_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.get(f"/api/task-automation/sequences/{workflow_id}/", headers=auth(tenant))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def move_to(time_env, when: datetime) -> None:  # type: ignore[no-untyped-def]
    now = await time_env.get_current_time()
    if when > now:
        await time_env.sleep(when - now)


async def test_five_mixed_steps_each_at_its_due_time(api, time_env, tenant):
    definition = await define(
        api,
        tenant,
        [
            step("intro-call", "call", {"days": 1}, "enrollment"),  # day 1
            step("email", "email", {"days": 2}),  # day 3
            step("linkedin", "linkedin", {"days": 1}, "previous_completed"),  # completion + 1
            step("note", "todo", {"hours": 12}, reminder_offset_hours=2),  # that + 0.5
            step("last-call", "call", {"days": 10}, "enrollment"),  # day 10
        ],
    )
    started = await enroll(api, tenant, definition["id"])
    assert started["version"] == 1 and started["definition_id"] == definition["id"]
    # The steps whose due time is known now: 1, 2 and 5.
    start = datetime.fromisoformat(started["planned"][0]["due_at"]) - timedelta(days=1)
    assert [p["step"] for p in started["planned"]] == [1, 2, 5]

    async def count() -> int:
        return len(await tasks(api, tenant))

    # Just before each due time nothing new; just after, the task.
    for due_day, expected in ((1, 1), (3, 2)):
        await move_to(time_env, start + timedelta(days=due_day, minutes=-5))
        assert await count() == expected - 1, f"before day {due_day}"
        await move_to(time_env, start + timedelta(days=due_day, minutes=5))
        assert await poll(count, lambda n, e=expected: n == e) == expected, f"day {due_day}"

    # Step 3 waits for step 2's task: nothing on day 5 without the completion.
    await move_to(time_env, start + timedelta(days=6))
    assert await count() == 2
    now = await time_env.get_current_time()
    email_task = next(t for t in await tasks(api, tenant) if t["kind"] == "email")
    done = await api.post(f"/api/tasks/{email_task['id']}/complete/", headers=auth(tenant))
    assert done.status_code == 200
    live = await progress(api, tenant, started["workflow_id"])
    by_id = {s["id"]: s for s in live["steps"]}
    assert by_id["linkedin"]["state"] == "waiting"
    due3 = datetime.fromisoformat(by_id["linkedin"]["due_at"])
    assert abs((due3 - (now + timedelta(days=1))).total_seconds()) < 120

    await move_to(time_env, due3 - timedelta(minutes=5))
    assert await count() == 2
    await move_to(time_env, due3 + timedelta(minutes=5))
    assert await poll(count, lambda n: n == 3) == 3
    await move_to(time_env, due3 + timedelta(hours=12, minutes=5))
    assert await poll(count, lambda n: n == 4) == 4
    await move_to(time_env, start + timedelta(days=10, minutes=5))
    assert await poll(count, lambda n: n == 5) == 5

    made = sorted(await tasks(api, tenant), key=lambda t: t["due_at"])
    assert [t["kind"] for t in made] == ["call", "email", "linkedin", "todo", "call"]
    assert made[0]["title"] == "1/5 call Ada Lovelace"
    assert made[0]["description"] == definition["name"]
    note = made[3]
    assert datetime.fromisoformat(note["due_at"]) - datetime.fromisoformat(
        note["reminder_at"]
    ) == timedelta(hours=2)
    # Each task is created at (not before) its due time: created_at is wall time here, so
    # the check is the count just before each due time above; the due times are exact.
    assert datetime.fromisoformat(made[1]["due_at"]) == start + timedelta(days=3)
    finished = await poll(
        lambda: progress(api, tenant, started["workflow_id"]),
        lambda p: p["state"] == "completed",
    )
    assert finished["state"] == "completed" and finished["tasks_created"] == 5
    assert [s["state"] for s in finished["steps"]] == ["created"] * 5
    assert all(s["task_id"] for s in finished["steps"])


@pytest.mark.parametrize("on_max_wait", ["create", "end"])
async def test_max_wait_creates_anyway_or_ends(api, time_env, make_tenant, on_max_wait):
    tenant = make_tenant()
    definition = await define(
        api,
        tenant,
        [
            step("first", "call", {"hours": 1}, "enrollment"),
            step(
                "second",
                "email",
                {"days": 1},
                "previous_completed",
                max_wait={"days": 3},
                on_max_wait=on_max_wait,
            ),
        ],
    )
    started = await enroll(api, tenant, definition["id"])
    start = datetime.fromisoformat(started["planned"][0]["due_at"]) - timedelta(hours=1)
    await move_to(time_env, start + timedelta(hours=1, minutes=5))
    await poll(lambda: tasks(api, tenant), lambda t: len(t) == 1)
    # The first task was made at hour 1: max_wait ends at hour 73.
    await move_to(time_env, start + timedelta(hours=72))
    assert len(await tasks(api, tenant)) == 1
    await move_to(time_env, start + timedelta(hours=74))
    end = await poll(
        lambda: progress(api, tenant, started["workflow_id"]),
        lambda p: p["state"] in ("completed", "stopped"),
    )
    made = await tasks(api, tenant)
    if on_max_wait == "create":
        assert end["state"] == "completed" and len(made) == 2, end
        second = next(t for t in made if t["kind"] == "email")
        due = datetime.fromisoformat(second["due_at"])
        assert abs((due - (start + timedelta(hours=73))).total_seconds()) < 120
        assert "max_wait" in next(s for s in end["steps"] if s["id"] == "second")["reason"]
    else:
        assert end["state"] == "stopped" and len(made) == 1
        assert "not completed within 72 h" in end["stop_reason"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"activity_type": "email_replied"}, "contact event: email_replied"),
        ({"activity_type": "meeting_booked"}, "contact event: meeting_booked"),
        ({"activity_type": "form_submitted"}, "contact event: form_submitted"),
        ({"status": "active"}, "contact status changed to active"),
        ({"status": "lost"}, "contact status changed to lost"),
    ],
)
async def test_each_exit_condition_ends_it_with_its_reason(
    api, time_env, make_tenant, event, reason
):
    tenant = make_tenant()
    definition = await define(
        api,
        tenant,
        [step("a", "call", {"days": 1}, "enrollment"), step("b", "email", {"days": 1})],
        exit_on={
            "activity_types": ["email_replied", "meeting_booked", "form_submitted"],
            "statuses": ["active", "lost"],
        },
    )
    started = await enroll(api, tenant, definition["id"])
    now = await time_env.get_current_time()
    if "activity_type" in event:
        resp = await api.post(
            "/api/events/activities/",
            json={
                "event_id": f"exit-{tenant.owner_id}",
                "contact_id": tenant.contact_id,
                "activity_type": event["activity_type"],
                "occurred_at": now.isoformat(),
            },
            headers=auth(tenant),
        )
    else:
        resp = await api.patch(
            f"/api/contacts/{tenant.contact_id}/",
            json={"status": event["status"]},
            headers=auth(tenant),
        )
    assert resp.status_code in (200, 201), resp.text
    ended = await poll(
        lambda: progress(api, tenant, started["workflow_id"]),
        lambda p: p["state"] == "stopped",
    )
    assert (ended["state"], ended["stop_reason"]) == ("stopped", reason)
    await time_env.sleep(timedelta(days=3))
    assert await tasks(api, tenant) == []


async def test_an_event_outside_the_exit_conditions_changes_nothing(api, time_env, tenant):
    definition = await define(
        api,
        tenant,
        [step("a", "call", {"days": 1}, "enrollment")],
        exit_on={"activity_types": ["meeting_booked"], "statuses": []},
    )
    started = await enroll(api, tenant, definition["id"])
    now = await time_env.get_current_time()
    resp = await api.post(
        "/api/events/activities/",
        json={
            "event_id": f"keep-{tenant.owner_id}",
            "contact_id": tenant.contact_id,
            "activity_type": "email_replied",
            "occurred_at": now.isoformat(),
        },
        headers=auth(tenant),
    )
    assert resp.status_code in (200, 201)
    await time_env.sleep(timedelta(days=2))
    done = await poll(
        lambda: progress(api, tenant, started["workflow_id"]),
        lambda p: p["state"] == "completed",
    )
    assert done["state"] == "completed" and done["tasks_created"] == 1


async def test_a_pause_while_waiting_for_a_completion_moves_only_max_wait(
    api, time_env, make_tenant
):
    tenant = make_tenant()
    definition = await define(
        api,
        tenant,
        [
            step("first", "call", {"hours": 1}, "enrollment"),
            step("second", "email", {"days": 1}, "previous_completed", max_wait={"days": 10}),
        ],
    )
    started = await enroll(api, tenant, definition["id"])
    wid = started["workflow_id"]
    await time_env.sleep(timedelta(hours=2))
    first = (await poll(lambda: tasks(api, tenant), lambda t: len(t) == 1))[0]
    paused = await api.post(f"/api/task-automation/sequences/{wid}/pause/", headers=auth(tenant))
    assert paused.json()["state"] == "paused"
    await time_env.sleep(timedelta(days=5))
    resumed = await api.post(f"/api/task-automation/sequences/{wid}/resume/", headers=auth(tenant))
    assert resumed.json()["state"] == "running"
    now = await time_env.get_current_time()
    await api.post(f"/api/tasks/{first['id']}/complete/", headers=auth(tenant))
    live = await poll(
        lambda: progress(api, tenant, wid), lambda p: p["steps"][1]["due_at"] is not None
    )
    due = datetime.fromisoformat(live["steps"][1]["due_at"])
    # Due a day after the completion: the pause came before it, so it moves nothing else.
    assert abs((due - (now + timedelta(days=1))).total_seconds()) < 120, (due, now)


async def test_the_answer_plans_the_due_times_the_tasks_get(api, time_env, make_tenant):
    """Steps known at the start are answered with the due times their tasks then get, to the
    microsecond: the API and the workflow count from the one anchor the API chose."""
    tenant = make_tenant()
    definition = await define(
        api,
        tenant,
        [
            step("call", "call", {"hours": 5}, "enrollment"),
            step("email", "email", {"days": 1}),
            step("later", "todo", {"days": 3}, "enrollment"),
        ],
    )
    body = {"contact_id": tenant.contact_id, "definition_id": definition["id"]}
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json=body | {"start_delay_hours": 2},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    planned = [datetime.fromisoformat(p["due_at"]) for p in resp.json()["planned"]]
    assert len(planned) == 3
    await move_to(time_env, planned[-1] + timedelta(minutes=5))
    made = await poll(lambda: tasks(api, tenant), lambda t: len(t) == 3)
    assert sorted(datetime.fromisoformat(t["due_at"]) for t in made) == planned
