"""Double clicks and bursts over real HTTP: one sequence per start, nobody starved."""

import asyncio

from sqlalchemy import func, select

from nudge.core.models import TaskBatch
from tests.support import auth

SCHEDULE = "/api/task-automation/schedule-sequence/"


async def test_twenty_identical_clicks_start_one_sequence(api, tenant, sessions):
    body = {"contact_id": tenant.contact_id, "sequence_type": "gentle"}
    answers = await asyncio.gather(
        *(api.post(SCHEDULE, json=body, headers=auth(tenant)) for _ in range(20))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 19 + [201]
    bodies = {(r.json()["workflow_id"], r.json()["batch_id"]) for r in answers}
    assert len(bodies) == 1
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(TaskBatch).where(TaskBatch.owner_id == tenant.owner_id)
        )
    assert count == 1
    wf = bodies.pop()[0]
    await api.post(f"/api/task-automation/sequences/{wf}/cancel/", headers=auth(tenant))


async def test_a_burst_for_many_contacts_all_succeed(api, tenant):
    headers = auth(tenant)
    ids = []
    for i in range(30):
        r = await api.post(
            "/api/contacts/", json={"external_id": f"burst-{i}", "name": f"N{i}"}, headers=headers
        )
        ids.append(r.json()["id"])
    answers = await asyncio.wait_for(
        asyncio.gather(*(api.post(SCHEDULE, json={"contact_id": c}, headers=headers) for c in ids)),
        timeout=25,  # a starved connection pool would wait out its 30 s timeout
    )
    assert [r.status_code for r in answers] == [201] * 30
    listed = await api.get("/api/task-automation/batches/?limit=100", headers=headers)
    assert listed.json()["total"] == 30
    for r in answers:
        wf = r.json()["workflow_id"]
        await api.post(f"/api/task-automation/sequences/{wf}/cancel/", headers=headers)
