"""Bulk enrollment on the time-skipping server: 2,000 contacts by one request (2,000
workflows and batches), the same request again enrolls nobody, and a daily limit of 500
spreads them over 4 days, in order."""

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus

from nudge.core.models import Contact, EnrollJobItem, TaskBatch
from nudge.platform.db import transaction
from tests.support import auth, poll

pytestmark = pytest.mark.slow

DEFINITIONS = "/api/task-automation/sequences/definitions/"
N = 2000


def add_contacts(sessions, owner_id: int, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6]
    with transaction(sessions) as session:
        rows = [
            Contact(owner_id=owner_id, external_id=f"{tag}-{i}", name=f"C{i}") for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [c.id for c in rows]


async def long_definition(api, tenant) -> int:  # type: ignore[no-untyped-def]
    body = {
        "name": f"bulk-{uuid.uuid4().hex[:6]}",
        "steps": [
            {"kind": "call", "wait": {"days": 30}, "anchor": "enrollment",
             "title_template": "Call {{ contact_name }}"},
        ],
    }  # fmt: skip
    resp = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def job(api, tenant, definition_id: int, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.get(
        f"{DEFINITIONS}{definition_id}/enroll-jobs/{job_id}/", headers=auth(tenant)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def batch_count(sessions, owner_id: int) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(
            select(func.count()).where(TaskBatch.owner_id == owner_id, TaskBatch.kind == "sequence")
        )


async def test_two_thousand_contacts_by_one_request_and_again(api, time_env, tenant, sessions):
    definition_id = await long_definition(api, tenant)
    contacts = add_contacts(sessions, tenant.owner_id, N)
    body = {"contact_ids": contacts}
    resp = await api.post(f"{DEFINITIONS}{definition_id}/enroll/", json=body, headers=auth(tenant))
    assert resp.status_code == 202, resp.text
    first = resp.json()
    done = await poll(
        lambda: job(api, tenant, definition_id, first["job_id"]),
        lambda j: j["status"] == "completed",
        seconds=240,
    )
    assert (done["total"], done["enrolled"], done["already_enrolled"], done["failed"]) == (
        N, N, 0, 0
    )  # fmt: skip
    assert batch_count(sessions, tenant.owner_id) == N

    # Every one a running workflow of its own.
    gate = asyncio.Semaphore(50)

    async def status(contact_id: int) -> WorkflowExecutionStatus | None:
        async with gate:
            wid = f"sequence-{tenant.owner_id}-{contact_id}-def-{definition_id}"
            return (await time_env.client.get_workflow_handle(wid).describe()).status

    statuses = await asyncio.gather(*(status(c) for c in contacts))
    assert Counter(statuses) == {WorkflowExecutionStatus.RUNNING: N}

    again = await api.post(f"{DEFINITIONS}{definition_id}/enroll/", json=body, headers=auth(tenant))
    assert again.status_code == 202
    second = await poll(
        lambda: job(api, tenant, definition_id, again.json()["job_id"]),
        lambda j: j["status"] == "completed",
        seconds=240,
    )
    assert (second["enrolled"], second["already_enrolled"]) == (0, N)
    assert batch_count(sessions, tenant.owner_id) == N  # no second batch for anyone


async def test_a_daily_limit_of_500_spreads_2000_over_4_days(api, time_env, make_tenant, sessions):
    tenant = make_tenant()
    limit = await api.put(
        "/api/account/enrollment-limit/",
        json={"daily_enrollment_limit": 500},
        headers=auth(tenant),
    )
    assert limit.status_code == 200 and limit.json()["daily_enrollment_limit"] == 500
    definition_id = await long_definition(api, tenant)
    contacts = add_contacts(sessions, tenant.owner_id, N)
    resp = await api.post(
        f"{DEFINITIONS}{definition_id}/enroll/",
        json={"contact_ids": contacts},
        headers=auth(tenant),
    )
    assert resp.status_code == 202
    job_id = resp.json()["job_id"]
    for day in range(1, 5):
        state = await poll(
            lambda: job(api, tenant, definition_id, job_id),
            lambda j, d=day: j["enrolled"] == 500 * d and j["status"] in ("waiting", "completed"),
            seconds=120,
        )
        assert state["enrolled"] == 500 * day, state
        if day < 4:
            assert state["status"] == "waiting" and "daily enrollment limit" in state["detail"]
            assert state["pending"] == N - 500 * day
            await time_env.sleep(timedelta(days=1))
    assert state["status"] == "completed"
    with sessions() as session:
        rows = session.execute(
            select(EnrollJobItem.contact_id, EnrollJobItem.day)
            .where(EnrollJobItem.job_id == job_id)
            .order_by(EnrollJobItem.ordinal)
        ).all()
    per_day = Counter(day for _, day in rows)
    assert sorted(per_day.values()) == [500, 500, 500, 500] and len(per_day) == 4
    # In order: each day's contacts come after the previous day's.
    days = [day for _, day in rows]
    assert days == sorted(days)
    assert batch_count(sessions, tenant.owner_id) == N
