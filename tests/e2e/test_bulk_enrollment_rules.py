"""Bulk enrollment's rules, small (time-skipping server): the same request after the runs
ended enrolls nobody, the daily limit counts only real enrollments and holds across two jobs
of one owner, a filter too wide is a 422, and deleting the definition stops its jobs."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import insert

from nudge.core.models import Contact
from nudge.platform.db import transaction
from tests.support import auth, poll

DEFINITIONS = "/api/task-automation/sequences/definitions/"


def add_contacts(sessions, owner_id: int, n: int, status: str = "lead") -> list[int]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6]
    with transaction(sessions) as session:
        rows = [
            Contact(owner_id=owner_id, external_id=f"{tag}-{i}", name=f"C{i}", status=status)
            for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [c.id for c in rows]


async def definition(api, tenant, wait: dict) -> int:  # type: ignore[no-untyped-def]
    body = {
        "name": f"rules-{uuid.uuid4().hex[:6]}",
        "steps": [{"kind": "todo", "wait": wait, "anchor": "enrollment",
                   "title_template": "Hi {{ contact_name }}"}],
    }  # fmt: skip
    resp = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def enroll(api, tenant, definition_id: int, body: dict) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(f"{DEFINITIONS}{definition_id}/enroll/", json=body, headers=auth(tenant))
    assert resp.status_code == 202, resp.text
    return resp.json()


async def job(api, tenant, definition_id: int, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.get(
        f"{DEFINITIONS}{definition_id}/enroll-jobs/{job_id}/", headers=auth(tenant)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def settled(api, tenant, definition_id: int, job_id: int, status: str = "completed") -> dict:  # type: ignore[no-untyped-def]
    return await poll(
        lambda: job(api, tenant, definition_id, job_id), lambda j: j["status"] == status, 30
    )


async def test_the_same_request_after_the_runs_ended_enrolls_nobody(
    api, time_env, tenant, sessions
):
    definition_id = await definition(api, tenant, {"hours": 1})
    contacts = add_contacts(sessions, tenant.owner_id, 5, status="prospect")
    body = {"filter": {"status": "prospect"}}
    first = await settled(
        api, tenant, definition_id, (await enroll(api, tenant, definition_id, body))["job_id"]
    )
    assert first["enrolled"] == 5
    assert first["temporal_ui_url"].endswith(f"/workflows/enroll-job-{first['job_id']}")
    await time_env.sleep(timedelta(hours=2))  # every run has ended
    # One more prospect since: the same filter enrolls only that one.
    newcomer = add_contacts(sessions, tenant.owner_id, 1, status="prospect")[0]
    again = await settled(
        api, tenant, definition_id, (await enroll(api, tenant, definition_id, body))["job_id"]
    )
    assert (again["enrolled"], again["already_enrolled"]) == (1, 5), again
    # A different request (the list of ids) is a new request: they are enrolled again.
    other = await settled(
        api,
        tenant,
        definition_id,
        (await enroll(api, tenant, definition_id, {"contact_ids": contacts}))["job_id"],
    )
    assert other["enrolled"] == 5
    assert newcomer not in contacts


async def test_the_limit_counts_only_real_enrollments(api, time_env, make_tenant, sessions):
    tenant = make_tenant()
    await api.put(
        "/api/account/enrollment-limit/", json={"daily_enrollment_limit": 2}, headers=auth(tenant)
    )
    definition_id = await definition(api, tenant, {"days": 30})
    contacts = add_contacts(sessions, tenant.owner_id, 4)
    # Two of them already enrolled one by one (not counted against the bulk limit).
    for contact_id in contacts[:2]:
        resp = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": contact_id, "definition_id": definition_id},
            headers=auth(tenant),
        )
        assert resp.status_code == 201
    out = await enroll(api, tenant, definition_id, {"contact_ids": contacts})
    done = await settled(api, tenant, definition_id, out["job_id"])
    assert (done["enrolled"], done["already_enrolled"], done["pending"]) == (2, 2, 0), done


async def test_two_jobs_of_one_owner_share_its_daily_limit(api, time_env, make_tenant, sessions):
    tenant = make_tenant()
    await api.put(
        "/api/account/enrollment-limit/", json={"daily_enrollment_limit": 3}, headers=auth(tenant)
    )
    first_def = await definition(api, tenant, {"days": 30})
    second_def = await definition(api, tenant, {"days": 30})
    contacts = add_contacts(sessions, tenant.owner_id, 3)
    jobs = await asyncio.gather(
        enroll(api, tenant, first_def, {"contact_ids": contacts}),
        enroll(api, tenant, second_def, {"contact_ids": contacts}),
    )
    states = await asyncio.gather(
        poll(
            lambda: job(api, tenant, first_def, jobs[0]["job_id"]),
            lambda j: j["status"] in ("waiting", "completed"),
        ),
        poll(
            lambda: job(api, tenant, second_def, jobs[1]["job_id"]),
            lambda j: j["status"] in ("waiting", "completed"),
        ),
    )
    assert sum(s["enrolled"] for s in states) == 3, states  # not 6
    await time_env.sleep(timedelta(days=1))
    states = await asyncio.gather(
        settled(api, tenant, first_def, jobs[0]["job_id"]),
        settled(api, tenant, second_def, jobs[1]["job_id"]),
    )
    assert [s["enrolled"] for s in states] == [3, 3]


async def test_a_filter_wider_than_a_job_is_refused(api, tenant, sessions):
    definition_id = await definition(api, tenant, {"days": 1})
    tag = uuid.uuid4().hex[:6]
    with transaction(sessions) as session:
        session.execute(
            insert(Contact),
            [
                {"owner_id": tenant.owner_id, "external_id": f"{tag}-{i}", "name": "N",
                 "status": "lost"}
                for i in range(10_001)
            ],
        )  # fmt: skip
    resp = await api.post(
        f"{DEFINITIONS}{definition_id}/enroll/",
        json={"filter": {"status": "lost"}},
        headers=auth(tenant),
    )
    assert resp.status_code == 422, resp.text
    assert "10,001 contacts" in resp.json()["detail"]


async def test_deleting_the_definition_stops_its_waiting_job(api, time_env, make_tenant, sessions):
    tenant = make_tenant()
    await api.put(
        "/api/account/enrollment-limit/", json={"daily_enrollment_limit": 1}, headers=auth(tenant)
    )
    definition_id = await definition(api, tenant, {"days": 30})
    contacts = add_contacts(sessions, tenant.owner_id, 3)
    out = await enroll(api, tenant, definition_id, {"contact_ids": contacts})
    await settled(api, tenant, definition_id, out["job_id"], "waiting")
    gone = await api.delete(
        f"{DEFINITIONS}{definition_id}/?cancel_running=true", headers=auth(tenant)
    )
    assert gone.status_code == 204
    handle = time_env.client.get_workflow_handle(f"enroll-job-{out['job_id']}")
    described = await poll(handle.describe, lambda d: d.status.name == "CANCELED")
    assert described.status.name == "CANCELED"
