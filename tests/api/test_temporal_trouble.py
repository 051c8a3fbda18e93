"""When Temporal is down, or a run ended outside Nudge, answers stay clear and honest."""

import pytest
from sqlalchemy import func, select
from temporalio.client import Client

from api.embedded import free_port, serve_api
from nudge.core.models import TaskBatch
from nudge.platform.db import transaction
from nudge.platform.temporal import DATA_CONVERTER
from tests.support import auth, poll


async def test_temporal_down_is_503_and_writes_nothing(sessions, tenant):
    dead = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True
    )
    async with serve_api(dead, sessions, "unused") as http:
        resp = await http.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": tenant.contact_id},
            headers=auth(tenant),
        )
        assert resp.status_code == 503
        assert "Temporal is unavailable" in resp.json()["detail"]
        health = await http.get("/readyz")
        assert health.status_code == 503
        assert health.json()["database"] == "ok"
        assert health.json()["temporal"].startswith("unreachable")
        alive = await http.get("/healthz")  # liveness doesn't depend on Temporal
        assert alive.status_code == 200
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(TaskBatch).where(TaskBatch.owner_id == tenant.owner_id)
        )
    assert count == 0


@pytest.mark.slow
async def test_a_run_terminated_in_temporal_reads_as_stopped(dev_api, dev_env, tenant):
    # On the dev server: the time-skipping server keeps its clock stopped after a
    # terminate that lands while an activity runs, which would stall later tests.
    api, headers = dev_api, auth(tenant)
    started = (
        await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": tenant.contact_id},
            headers=headers,
        )
    ).json()
    wf = started["workflow_id"]
    await dev_env.client.get_workflow_handle(wf).terminate(reason="cleaning up")
    progress = await api.get(f"/api/task-automation/sequences/{wf}/", headers=headers)
    assert progress.status_code == 200
    body = progress.json()
    assert (body["state"], body["stop_reason"], body["next_due_at"]) == (
        "stopped",
        "cleaning up",  # Temporal's own reason, verbatim
        None,
    )
    batch = await api.get(f"/api/task-automation/batches/{started['batch_id']}/", headers=headers)
    assert batch.json()["status"] == "stopped"
    pause = await api.post(f"/api/task-automation/sequences/{wf}/pause/", headers=headers)
    assert pause.status_code == 409 and "(stopped)" in pause.json()["detail"]


async def test_a_run_temporal_no_longer_knows_answers_from_our_rows(api, sessions, tenant):
    wf = f"sequence-{tenant.owner_id}-{tenant.contact_id}-gentle"
    with transaction(sessions) as session:
        session.add(
            TaskBatch(
                owner_id=tenant.owner_id,
                kind="sequence",
                name="old run",
                contact_id=tenant.contact_id,
                workflow_id=wf,
                status="completed",
                planned=4,
                params={"sequence_type": "gentle", "start_delay_hours": 0},
            )
        )
    resp = await poll(
        lambda: api.get(f"/api/task-automation/sequences/{wf}/", headers=auth(tenant)),
        lambda r: r.status_code != 503,
    )
    assert resp.status_code == 200
    assert (resp.json()["state"], len(resp.json()["planned"])) == ("completed", 4)
