"""End to end over HTTP against the real Temporal dev server (`temporal server start-dev`)."""

import asyncio
from datetime import datetime

import pytest

from tests.support import auth, poll

pytestmark = pytest.mark.slow


async def test_schedule_progress_pause_resume_cancel(dev_api, dev_env, tenant):
    api, headers = dev_api, auth(tenant)
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard", "start_delay_hours": 2},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    started = resp.json()
    wf = started["workflow_id"]
    assert wf == f"sequence-{tenant.owner_id}-{tenant.contact_id}-standard"
    assert started["temporal_ui_url"].endswith(f"/namespaces/default/workflows/{wf}")
    planned = [datetime.fromisoformat(p["due_at"]) for p in started["planned"]]

    again = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard", "start_delay_hours": 2},
        headers=headers,
    )
    assert again.status_code == 200
    assert again.json() | {"already_running": False} == started

    url = f"/api/task-automation/sequences/{wf}/"
    progress = (await api.get(url, headers=headers)).json()
    assert (progress["state"], progress["step"], progress["tasks_created"]) == ("running", 0, 0)
    assert [datetime.fromisoformat(p["due_at"]) for p in progress["planned"]] == planned
    assert datetime.fromisoformat(progress["next_due_at"]) == planned[0]

    paused = await api.post(url + "pause/", headers=headers)
    assert paused.status_code == 200
    assert (paused.json()["state"], paused.json()["next_due_at"]) == ("paused", None)
    await asyncio.sleep(1.0)
    resumed = (await api.post(url + "resume/", headers=headers)).json()
    assert resumed["state"] == "running"
    shifts = [
        (datetime.fromisoformat(p["due_at"]) - old).total_seconds()
        for p, old in zip(resumed["planned"], planned, strict=True)
    ]
    assert all(s >= 1.0 for s in shifts) and len(set(shifts)) == 1  # all moved by the pause

    cancelled = await api.post(url + "cancel/", json={"reason": "booked a demo"}, headers=headers)
    assert cancelled.status_code == 200
    assert (cancelled.json()["state"], cancelled.json()["stop_reason"]) == (
        "cancelled",
        "booked a demo",
    )

    async def batch() -> dict:
        r = await api.get(f"/api/task-automation/batches/{started['batch_id']}/", headers=headers)
        return r.json()

    final = await poll(batch, lambda b: b["status"] == "cancelled")
    assert (final["status"], final["stop_reason"], final["created"]) == (
        "cancelled",
        "booked a demo",
        0,
    )
    after = (await api.get(url, headers=headers)).json()
    assert (after["state"], after["stop_reason"]) == ("cancelled", "booked a demo")
    assert (await api.get("/api/tasks/", headers=headers)).json()["total"] == 0

    # The Temporal UI can find it by owner through the search attributes.
    async def listed() -> list:
        query = f"NudgeOwnerId = '{tenant.owner_id}' AND NudgeKind = 'sequence'"
        return [w.id async for w in dev_env.client.list_workflows(query)]

    assert await poll(listed, lambda ids: ids == [wf]) == [wf]
    desc = await dev_env.client.get_workflow_handle(wf).describe()
    assert await desc.static_summary() == "Standard follow-up sequence for Ada Lovelace"


async def test_readyz_and_healthz(dev_api):
    resp = await dev_api.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"database": "ok", "temporal": "ok"}
    alive = await dev_api.get("/healthz")
    assert alive.status_code == 200
    assert alive.json() == {"database": "not checked", "temporal": "not checked"}
