"""Bad input gets a 4xx that says what to fix, and writes nothing."""

import pytest
from sqlalchemy import func, select

from nudge.core.models import Task, TaskBatch
from tests.support import auth

SCHEDULE = "/api/task-automation/schedule-sequence/"


def batch_count(sessions, owner_id: int) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count()).select_from(TaskBatch).where(TaskBatch.owner_id == owner_id)
        )


async def test_missing_and_invalid_keys_are_401(api, tenant):
    for headers in ({}, {"Authorization": "Bearer nk_wrong"}, {"Authorization": "Basic x"}):
        resp = await api.get("/api/tasks/", headers=headers)
        assert resp.status_code == 401, headers
        assert "API key" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"sequence_type": "pushy"}, "sequence_type", ["standard", "aggressive", "gentle"]),
        ({"start_delay_hours": -1}, "start_delay_hours", ["greater than or equal to 0"]),
        ({"start_delay_hours": "soon"}, "start_delay_hours", ["valid number"]),
        ({"contact_id": "abc"}, "contact_id", ["valid integer"]),
        ({"surprise": 1}, "surprise", ["unknown field"]),
    ],
)
async def test_invalid_schedule_bodies_are_422_naming_the_fix(
    api, tenant, sessions, body, field, words
):
    payload = {"contact_id": tenant.contact_id, "sequence_type": "standard"} | body
    resp = await api.post(SCHEDULE, json=payload, headers=auth(tenant))
    assert resp.status_code == 422
    detail = resp.json()
    assert [e["field"] for e in detail["errors"]] == [field]
    for word in words:
        assert word in detail["detail"]
    assert batch_count(sessions, tenant.owner_id) == 0


async def test_malformed_json_is_422(api, tenant, sessions):
    resp = await api.post(
        SCHEDULE,
        content=b'{"contact_id": 1,',
        headers=auth(tenant) | {"Content-Type": "application/json"},
    )
    assert resp.status_code == 422
    assert "not valid JSON" in resp.json()["detail"]
    assert batch_count(sessions, tenant.owner_id) == 0


async def test_unknown_and_foreign_contacts_are_404_and_write_nothing(api, make_tenant, sessions):
    me, other = make_tenant(), make_tenant()
    for contact_id in (other.contact_id, 10**9):
        resp = await api.post(SCHEDULE, json={"contact_id": contact_id}, headers=auth(me))
        assert resp.status_code == 404
        assert f"contact {contact_id} not found" in resp.json()["detail"]
        assert (await api.get(f"/api/contacts/{contact_id}/", headers=auth(me))).status_code == 404
    assert batch_count(sessions, me.owner_id) == batch_count(sessions, other.owner_id) == 0


async def test_bad_query_parameters_are_422(api, tenant):
    for query in ("limit=0", "limit=501", "offset=-1", "status=done", "due_before=tomorrow"):
        resp = await api.get(f"/api/tasks/?{query}", headers=auth(tenant))
        assert resp.status_code == 422, query
        assert resp.json()["errors"][0]["field"] == query.split("=")[0]


async def test_contact_validation(api, tenant):
    bad = [
        ({"external_id": "x", "name": "A", "email": "nope"}, "email"),
        ({"external_id": "x", "name": "A", "timezone": "Mars/Olympus"}, "timezone"),
        ({"external_id": "x", "name": "A", "status": "happy"}, "status"),
        ({"external_id": "", "name": "A"}, "external_id"),
        ({"name": "A"}, "external_id"),
    ]
    for body, field in bad:
        resp = await api.post("/api/contacts/", json=body, headers=auth(tenant))
        assert resp.status_code == 422, body
        assert resp.json()["errors"][0]["field"] == field
    resp = await api.post(
        "/api/contacts/",
        json={"external_id": "x", "name": "A", "timezone": "Mars/Olympus"},
        headers=auth(tenant),
    )
    assert "IANA" in resp.json()["detail"]


async def test_other_owners_sequences_tasks_and_batches_are_invisible(api, make_tenant, sessions):
    me, other = make_tenant(), make_tenant()
    resp = await api.post(SCHEDULE, json={"contact_id": other.contact_id}, headers=auth(other))
    assert resp.status_code == 201
    started = resp.json()
    wf = started["workflow_id"]
    for path in (
        f"/api/task-automation/sequences/{wf}/",
        f"/api/task-automation/batches/{started['batch_id']}/",
    ):
        assert (await api.get(path, headers=auth(me))).status_code == 404
    for action in ("pause", "resume", "cancel"):
        resp = await api.post(f"/api/task-automation/sequences/{wf}/{action}/", headers=auth(me))
        assert resp.status_code == 404
    listed = await api.get("/api/task-automation/batches/", headers=auth(me))
    assert listed.json() == {"items": [], "total": 0}
    # The owner's own view still shows it running, untouched by the attempts above.
    mine = await api.get(f"/api/task-automation/sequences/{wf}/", headers=auth(other))
    assert mine.json()["state"] == "running"
    await api.post(f"/api/task-automation/sequences/{wf}/cancel/", headers=auth(other))
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Task.owner_id == me.owner_id)) == 0


HUGE = [2**31, 2**63, 10**30]


async def test_ids_beyond_any_key_are_422(api, tenant):
    paths = [
        *(f"/api/contacts/{i}/" for i in HUGE),
        *(f"/api/tasks/{i}/" for i in HUGE),
        *(f"/api/task-automation/batches/{i}/" for i in HUGE),
        *(f"/api/tasks/?contact_id={i}" for i in HUGE),
        *(f"/api/tasks/?batch_id={i}" for i in HUGE),
        "/api/tasks/?offset=99999999999",
        "/api/contacts/?offset=99999999999",
        "/api/task-automation/batches/?offset=99999999999",
        "/api/contacts/0/",
    ]
    for path in paths:
        resp = await api.get(path, headers=auth(tenant))
        assert resp.status_code == 422, path
    for i in HUGE:
        resp = await api.post(f"/api/tasks/{i}/complete/", headers=auth(tenant))
        assert resp.status_code == 422
        resp = await api.post(SCHEDULE, json={"contact_id": i}, headers=auth(tenant))
        assert resp.status_code == 422
        assert resp.json()["errors"][0]["field"] == "contact_id"


async def test_times_that_overflow_utc_are_422(api, tenant):
    for value in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B01:00"):
        resp = await api.get(f"/api/tasks/?due_before={value}", headers=auth(tenant))
        assert resp.status_code == 422, value
        assert "out of range" in resp.json()["detail"]


async def test_nul_characters_are_422(api, tenant, sessions):
    for field in ("external_id", "name", "email"):
        body = {"external_id": "nul", "name": "N", "email": "n@example.com"}
        body[field] = body[field][:1] + "\x00" + body[field][1:]
        resp = await api.post("/api/contacts/", json=body, headers=auth(tenant))
        assert resp.status_code == 422, field
    for wf in ("%00", "sequence-1-1-standard%00", "a b", "x" * 201):
        resp = await api.get(f"/api/task-automation/sequences/{wf}/", headers=auth(tenant))
        assert resp.status_code == 422, wf
        resp = await api.post(f"/api/task-automation/sequences/{wf}/pause/", headers=auth(tenant))
        assert resp.status_code == 422, wf


async def test_malformed_json_names_the_body(api, tenant):
    resp = await api.post(
        "/api/contacts/",
        content=b'{"name": ',
        headers=auth(tenant) | {"Content-Type": "application/json"},
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "body"


async def test_an_upsert_changes_only_what_was_sent(api, tenant):
    headers = auth(tenant)
    first = {"external_id": "keep", "name": "Kim", "status": "prospect", "timezone": "Asia/Tokyo"}
    assert (await api.post("/api/contacts/", json=first, headers=headers)).status_code == 201
    resp = await api.post(
        "/api/contacts/", json={"external_id": "keep", "name": "Kim Lee"}, headers=headers
    )
    assert resp.status_code == 200
    assert (resp.json()["name"], resp.json()["status"], resp.json()["timezone"]) == (
        "Kim Lee",
        "prospect",
        "Asia/Tokyo",
    )
