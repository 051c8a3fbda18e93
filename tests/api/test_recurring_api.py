"""Recurring check-ins over HTTP: start, reshape, read, stop; bad input; other owners."""

from datetime import datetime, timedelta

from tests.support import auth, poll

URL = "/api/task-automation/schedule-recurring/"


async def test_start_reshape_read_stop(api, time_env, tenant):
    headers = auth(tenant)
    template = {"title": "Weekly check-in with {{contact_name}}", "priority": "medium"}
    body = {"contact_id": tenant.contact_id, "cadence": "weekly", "task_template": template}
    first = await api.post(URL, json=body, headers=headers)
    assert first.status_code == 201, first.text  # created, as schedule-sequence answers
    started = first.json()
    assert (started["state"], started["cadence"]) == ("running", "weekly")
    assert started["workflow_id"] == f"recurring-{tenant.owner_id}-{tenant.contact_id}"
    again = await api.post(URL, json=body, headers=headers)
    assert again.status_code == 200, again.text  # already running: nothing new
    assert again.json()["next_due_at"] == started["next_due_at"]  # same body: nothing moves

    contact = await api.get(f"/api/contacts/{tenant.contact_id}/", headers=headers)
    assert contact.json()["cadence"] == "weekly"
    patched = await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"cadence": "daily"}, headers=headers
    )
    assert patched.status_code == 200
    now = await time_env.get_current_time()
    read = (
        await api.get(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers)
    ).json()
    assert read["cadence"] == "daily"
    assert abs(datetime.fromisoformat(read["next_due_at"]) - (now + timedelta(days=1))) < timedelta(
        minutes=1
    )

    gone = await api.delete(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers)
    assert gone.status_code == 204
    stopped = await api.get(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers)
    assert stopped.status_code == 404 and "stopped through the API" in stopped.json()["detail"]
    contact = await api.get(f"/api/contacts/{tenant.contact_id}/", headers=headers)
    assert contact.json()["cadence"] is None


async def test_bad_input_and_other_owners(api, make_tenant):
    me, other = make_tenant(), make_tenant()
    for body, field in [
        ({"contact_id": me.contact_id, "cadence": "hourly"}, "cadence"),
        ({"contact_id": me.contact_id, "cadence": "weekly",
          "task_template": {"title": "{{ nope }}"}}, "task_template.title"),
        ({"contact_id": me.contact_id, "cadence": "weekly",
          "task_template": {"priority": "asap"}}, "task_template.priority"),
    ]:  # fmt: skip
        resp = await api.post(URL, json=body, headers=auth(me))
        assert resp.status_code == 422, body
        assert resp.json()["errors"][0]["field"] == field
    resp = await api.post(URL, json={"contact_id": other.contact_id, "cadence": "weekly"},
                          headers=auth(me))  # fmt: skip
    assert resp.status_code == 404
    resp = await api.get(f"/api/task-automation/recurring/{other.contact_id}/", headers=auth(me))
    assert resp.status_code == 404


async def test_a_lost_contact_stops_its_check_ins_and_loses_its_cadence(api, time_env, tenant):
    headers = auth(tenant)
    await api.post(
        URL, json={"contact_id": tenant.contact_id, "cadence": "weekly"}, headers=headers
    )
    patched = await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"status": "lost"}, headers=headers
    )
    assert (patched.json()["status"], patched.json()["cadence"]) == ("lost", None)
    stopped = await poll(
        lambda: api.get(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers),
        lambda r: r.status_code == 404,
    )
    assert "contact status changed to lost" in stopped.json()["detail"]


async def test_setting_the_same_cadence_on_the_contact_keeps_the_template_and_dates(
    api, time_env, tenant
):
    headers = auth(tenant)
    body = {"contact_id": tenant.contact_id, "cadence": "weekly",
            "task_template": {"title": "Custom hello {{contact_name}}"}}  # fmt: skip
    first = (await api.post(URL, json=body, headers=headers)).json()
    await time_env.sleep(timedelta(hours=5))
    await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"cadence": "weekly"}, headers=headers
    )
    read = await api.get(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers)
    assert read.json()["next_due_at"] == first["next_due_at"]
    await time_env.sleep(timedelta(days=7))

    async def titles() -> list[str]:
        r = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=headers)
        return [t["title"] for t in r.json()["items"]]

    assert await poll(titles, lambda t: len(t) == 1) == ["Custom hello Ada Lovelace"]
    await api.delete(f"/api/task-automation/recurring/{tenant.contact_id}/", headers=headers)


async def test_a_task_by_hand_with_a_date_out_of_range_is_422(api, tenant):
    resp = await api.post(
        "/api/tasks/",
        json={"title": "x", "due_at": "0001-01-01T00:00:00Z", "reminder_offset_hours": 1},
        headers=auth(tenant),
    )
    assert resp.status_code == 422 and "hundred years" in resp.json()["detail"]


async def test_stopped_check_ins_are_gone_until_started_again(api, time_env, tenant):
    """Finding (ST301): DELETE, then GET answered 200 "stopped", while POST after a stop answers
    201 (created): stopped check-ins no longer exist, so GET is 404 and says why, as for rules."""
    headers = auth(tenant)
    check_ins = f"/api/task-automation/recurring/{tenant.contact_id}/"
    body = {"contact_id": tenant.contact_id, "cadence": "monthly"}
    assert (await api.post(URL, json=body, headers=headers)).status_code == 201
    assert (await api.delete(check_ins, headers=headers)).status_code == 204
    gone = await api.get(check_ins, headers=headers)
    assert gone.status_code == 404, gone.text
    assert "stopped through the API" in gone.json()["detail"]
    assert "schedule-recurring" in gone.json()["detail"]  # names the fix
    assert (await api.delete(check_ins, headers=headers)).status_code == 204  # idempotent
    assert (await api.post(URL, json=body, headers=headers)).status_code == 201
    again = await api.get(check_ins, headers=headers)
    assert (again.status_code, again.json()["state"]) == (200, "running")
    await api.delete(check_ins, headers=headers)
