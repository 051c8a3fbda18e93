"""End to end over HTTP: real API, real worker, time-skipping Temporal, real database."""

from datetime import datetime, timedelta

from tests.support import auth, poll


async def test_aggressive_sequence_day_by_day(api, time_env, tenant):
    headers = auth(tenant)
    contact = await api.post(
        "/api/contacts/",
        json={"external_id": "crm-42", "name": "Grace Hopper", "email": "grace@example.com"},
        headers=headers,
    )
    assert contact.status_code == 201
    contact_id = contact.json()["id"]

    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": contact_id, "sequence_type": "aggressive", "start_delay_hours": 0},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    started = resp.json()
    planned = [datetime.fromisoformat(p["due_at"]) for p in started["planned"]]
    assert all(p["due_at"].endswith("+00:00") for p in started["planned"])
    assert [(b - planned[0]).days for b in planned] == [0, 1, 3, 6]

    async def tasks() -> dict:
        r = await api.get(f"/api/tasks/?contact_id={contact_id}", headers=headers)
        return r.json()

    async def batch() -> dict:
        r = await api.get(f"/api/task-automation/batches/{started['batch_id']}/", headers=headers)
        return r.json()

    assert (await tasks())["total"] == 0
    expected_by_day = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3, 7: 4}
    for day, expected in expected_by_day.items():
        await time_env.sleep(timedelta(days=1))
        seen = await poll(tasks, lambda t, n=expected: t["total"] == n)
        assert seen["total"] == expected, f"day {day}"
        progress = await poll(batch, lambda b, n=expected: b["created"] == n)
        assert (progress["planned"], progress["created"]) == (4, expected), f"day {day}"

    items = (await tasks())["items"]
    assert [datetime.fromisoformat(t["due_at"]) for t in items] == planned
    assert items[0]["title"] == "Follow up with Grace Hopper (1/4)"
    done = await poll(batch, lambda b: b["status"] == "completed")
    assert (done["status"], done["percent"]) == ("completed", 0)

    # Completing tasks moves the batch's percent; completing twice changes nothing.
    for task in items[:2]:
        for _ in range(2):
            r = await api.post(f"/api/tasks/{task['id']}/complete/", headers=headers)
            assert r.status_code == 200 and r.json()["status"] == "completed"
    after = await batch()
    assert (after["completed"], after["percent"]) == (2, 50)
    open_tasks = await api.get(f"/api/tasks/?contact_id={contact_id}&status=open", headers=headers)
    assert open_tasks.json()["total"] == 2

    progress = await api.get(
        f"/api/task-automation/sequences/{started['workflow_id']}/", headers=headers
    )
    body = progress.json()
    assert (body["state"], body["tasks_created"], body["next_due_at"]) == ("completed", 4, None)
    pause = await api.post(
        f"/api/task-automation/sequences/{started['workflow_id']}/pause/", headers=headers
    )
    assert pause.status_code == 409 and "already ended" in pause.json()["detail"]


async def test_task_filters(api, time_env, tenant):
    headers = auth(tenant)
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "gentle"},
        headers=headers,
    )
    planned = [datetime.fromisoformat(p["due_at"]) for p in resp.json()["planned"]]
    await time_env.sleep(timedelta(days=31))

    async def listing(query: str) -> dict:
        return (await api.get(f"/api/tasks/?{query}", headers=headers)).json()

    await poll(lambda: listing(""), lambda t: t["total"] == 4)
    cut = planned[2].isoformat()
    before = await listing(f"due_before={cut.replace('+', '%2B')}")
    after = await listing(f"due_after={cut.replace('+', '%2B')}")
    assert (before["total"], after["total"]) == (2, 2)
    page = await listing("limit=1&offset=1")
    assert page["total"] == 4 and len(page["items"]) == 1
    assert datetime.fromisoformat(page["items"][0]["due_at"]) == planned[1]
