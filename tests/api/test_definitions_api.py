"""Sequence definitions over HTTP: bad input refused naming the fix and writing nothing,
create/read/update/delete with versions, previews that write nothing, owner isolation, and
the built-ins usable by id."""

import asyncio
import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from api.app import create_app
from nudge.core.models import EnrollJob, SequenceDefinition, SequenceVersion, Task, TaskBatch
from nudge.platform.settings import Settings
from tests.api.test_openapi_truth import repair
from tests.support import auth, poll

DEFINITIONS = "/api/task-automation/sequences/definitions/"
SCHEDULE = "/api/task-automation/schedule-sequence/"
START = "2030-01-07T09:00:00+00:00"
TITLE = "{{ step_number }}/{{ step_count }} {{ contact_name }} ({{ sequence_name }})"


def step(wait: dict, anchor: str = "previous_due", kind: str = "todo", **more: Any) -> dict:
    return {"kind": kind, "wait": wait, "anchor": anchor, "title_template": TITLE, **more}


STEPS = [
    step({"days": 1}, "enrollment", "call", id="intro"),
    step({"hours": 12}, kind="email"),  # no id: one is made up
]
BODY = {"name": "Outreach", "description": "three touches", "steps": STEPS}


def counts(sessions, owner_id: int) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """The owner's definitions, their versions, and enrollment jobs."""
    with sessions() as session:
        mine = select(SequenceDefinition.id).where(SequenceDefinition.owner_id == owner_id)
        return (
            session.scalar(select(func.count()).select_from(mine.subquery())) or 0,
            session.scalar(select(func.count()).where(SequenceVersion.definition_id.in_(mine)))
            or 0,
            session.scalar(select(func.count()).where(EnrollJob.owner_id == owner_id)) or 0,
        )


def written(sessions, owner_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The owner's tasks and batches."""
    with sessions() as session:
        return (
            session.scalar(select(func.count()).where(Task.owner_id == owner_id)) or 0,
            session.scalar(select(func.count()).where(TaskBatch.owner_id == owner_id)) or 0,
        )


async def create(api, tenant, body: dict | None = None, **more: Any) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(DEFINITIONS, json=(body or BODY) | more, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


def with_step(index: int, **change: Any) -> dict:
    body = copy.deepcopy(BODY)
    body["steps"][index].update(change)
    return body


def without(index: int, key: str) -> dict:
    body = copy.deepcopy(BODY)
    del body["steps"][index][key]
    return body


def steps_of(*steps: dict) -> dict:
    return BODY | {"steps": list(steps)}


# --- bad input ------------------------------------------------------------------------------

BAD = [
    ("no-steps", BODY | {"steps": []}, "steps", ["at least 1"]),
    ("51-steps", steps_of(*[step({"days": 1}) for _ in range(51)]), "steps", ["at most 50"]),
    ("negative-wait", with_step(0, wait={"days": -1}), "steps.0.wait.days",
     ["greater than or equal to 0"]),
    ("negative-hours", with_step(1, wait={"hours": -0.5}), "steps.1.wait.hours",
     ["greater than or equal to 0"]),
    ("over-a-year", with_step(0, wait={"days": 366}), "steps.0.wait.days",
     ["less than or equal to 365"]),
    ("over-8760-hours", with_step(0, wait={"hours": 8761}), "steps.0.wait.hours",
     ["less than or equal to 8760"]),
    ("days-and-hours", with_step(0, wait={"days": 1, "hours": 2}), "steps.0.wait",
     ['exactly one of "days", "hours" or "business_days"']),
    ("neither-unit", with_step(0, wait={}), "steps.0.wait",
     ['exactly one of "days", "hours" or "business_days"']),
    ("null-unit", with_step(0, wait={"days": 1, "hours": None}), "steps.0.wait.hours",
     ["can't be null"]),
    ("only-null-unit", with_step(0, wait={"hours": None}), "steps.0.wait.hours",
     ["can't be null"]),
    ("null-max-wait-unit", with_step(1, anchor="previous_completed", max_wait={"days": None}),
     "steps.1.max_wait.days", ["can't be null"]),
    ("null-id", with_step(0, id=None), "steps.0.id", ["can't be null"]),
    ("unknown-anchor", with_step(1, anchor="whenever"), "steps.1.anchor",
     ["enrollment", "previous_due", "previous_completed"]),
    ("unknown-kind", with_step(0, kind="fax"), "steps.0.kind",
     ["call", "email", "linkedin", "todo"]),
    ("unknown-variable", with_step(0, title_template="Hi {{ nope }}"), "steps.0.title_template",
     ["unknown variable nope", "allowed: contact_name, contact_email, due_date, step_number, "
      "step_count, sequence_name"]),
    ("rule-only-variable", with_step(1, description_template="{{ rule_name }}"),
     "steps.1.description_template", ["unknown variable rule_name"]),
    ("max-wait-without-completion", with_step(1, max_wait={"days": 3}), "steps.1",
     ["max_wait applies only to a step with anchor previous_completed",
      "anchor is previous_due"]),
    ("first-waits-for-completion", with_step(0, anchor="previous_completed"), "steps",
     ["first step has no previous step", "enrollment or previous_due"]),
    ("duplicate-ids", with_step(1, id="intro"), "steps", ["step id 'intro' is used twice"]),
    ("bad-id", with_step(0, id="no spaces!"), "steps.0.id", ["pattern"]),
    ("long-id", with_step(0, id="x" * 41), "steps.0.id", ["pattern"]),
    ("no-title", without(0, "title_template"), "steps.0.title_template", ["Field required"]),
    ("no-wait", without(0, "wait"), "steps.0.wait", ["Field required"]),
    ("blank-name", BODY | {"name": "  "}, "name", ["at least 1 character"]),
    ("unknown-exit", BODY | {"exit_on": {"activity_types": ["waved"]}},
     "exit_on.activity_types.0", ["email_replied"]),
    ("unknown-field", BODY | {"colour": "red"}, "colour", ["unknown field"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "words"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
async def test_bad_definitions_are_422_naming_the_field_and_write_nothing(
    api, tenant, sessions, body, field, words
):
    """Saved or as a draft to preview, the same answer (the draft's fields under
    `definition`)."""
    draft = {"contact_id": tenant.contact_id, "definition": body}
    for url, payload, where in (
        (DEFINITIONS, body, field),
        (f"{DEFINITIONS}preview/", draft, f"definition.{field}"),
    ):
        resp = await api.post(url, json=payload, headers=auth(tenant))
        assert resp.status_code == 422, (url, resp.text)
        error = resp.json()
        assert [e["field"] for e in error["errors"]] == [where], error
        for word in words:
            assert word in error["detail"], error["detail"]
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)
    assert written(sessions, tenant.owner_id) == (0, 0)


async def test_bad_put_and_patch_change_nothing(api, tenant, sessions):
    made = await create(api, tenant)
    url = f"{DEFINITIONS}{made['id']}/"
    before = counts(sessions, tenant.owner_id)
    for name, body, field, words in BAD:
        put = await api.put(url, json=body, headers=auth(tenant))
        assert put.status_code == 422, (name, put.text)
        assert put.json()["errors"][0]["field"] == field, name
        if "steps" in field:
            patch = await api.patch(url, json={"steps": body["steps"]}, headers=auth(tenant))
            assert patch.status_code == 422, (name, patch.text)
            assert patch.json()["errors"][0]["field"] == field, name
            for word in words:
                assert word in patch.json()["detail"], (name, patch.json())
    bad_apply = await api.patch(url, json={"apply_to_running": "all"}, headers=auth(tenant))
    assert bad_apply.status_code == 422
    assert bad_apply.json()["errors"][0]["field"] == "apply_to_running"
    assert "future_steps" in bad_apply.json()["detail"]
    for key in ("name", "description", "steps", "exit_on"):
        resp = await api.patch(url, json={key: None}, headers=auth(tenant))
        assert resp.status_code == 422, (key, resp.text)
        assert resp.json()["errors"] == [
            {"field": key, "message": "can't be null; leave the field out instead"}
        ]
    assert counts(sessions, tenant.owner_id) == before
    assert (await api.get(url, headers=auth(tenant))).json() == made


async def test_builtins_are_read_only(api, tenant, sessions):
    before = (await api.get(f"{DEFINITIONS}1/", headers=auth(tenant))).json()
    for method, body in (("PUT", BODY), ("PATCH", {"name": "Mine now"}), ("DELETE", None)):
        for definition_id in (1, 2, 3):
            resp = await api.request(
                method, f"{DEFINITIONS}{definition_id}/", json=body, headers=auth(tenant)
            )
            assert resp.status_code == 409, (method, resp.text)
            assert "built in and read-only" in resp.json()["detail"]
            assert "POST /api/task-automation/sequences/definitions/" in resp.json()["detail"]
    resp = await api.delete(f"{DEFINITIONS}1/?cancel_running=true", headers=auth(tenant))
    assert resp.status_code == 409
    assert (await api.get(f"{DEFINITIONS}1/", headers=auth(tenant))).json() == before
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)


async def test_a_name_in_use_is_409(api, tenant, make_tenant, sessions):
    first = await create(api, tenant)
    for name in ("Outreach", "OUTREACH"):
        resp = await api.post(DEFINITIONS, json=BODY | {"name": name}, headers=auth(tenant))
        assert resp.status_code == 409, resp.text
        assert f"named {name!r} (id {first['id']})" in resp.json()["detail"]
    other = await create(api, tenant, name="Second")
    before = counts(sessions, tenant.owner_id)
    url = f"{DEFINITIONS}{other['id']}/"
    put = await api.put(url, json=BODY, headers=auth(tenant))
    patch = await api.patch(url, json={"name": "outreach"}, headers=auth(tenant))
    assert (put.status_code, patch.status_code) == (409, 409)
    assert counts(sessions, tenant.owner_id) == before
    assert (await api.get(url, headers=auth(tenant))).json() == other
    # Names are per owner: another owner may use it.
    await create(api, make_tenant())


async def test_deleting_a_definition_that_runs_needs_cancel_running(api, tenant, sessions):
    made = await create(
        api,
        tenant,
        steps_of(
            step({"hours": 0}, "enrollment", "call", id="now"),
            step({"days": 30}, id="later"),
        ),
    )
    url = f"{DEFINITIONS}{made['id']}/"
    started = await api.post(
        SCHEDULE,
        json={"contact_id": tenant.contact_id, "definition_id": made["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    workflow_id = started.json()["workflow_id"]
    assert workflow_id.endswith(f"-def-{made['id']}")

    async def tasks() -> list[dict]:
        resp = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=auth(tenant))
        return resp.json()["items"]

    assert len(await poll(tasks, lambda t: len(t) == 1)) == 1
    got = (await api.get(url, headers=auth(tenant))).json()
    assert got["running_enrollments"] == 1

    refused = await api.delete(url, headers=auth(tenant))
    assert refused.status_code == 409, refused.text
    assert "?cancel_running=true" in refused.json()["detail"]
    assert "1 enrollment(s)" in refused.json()["detail"]
    assert (await api.get(url, headers=auth(tenant))).status_code == 200
    assert counts(sessions, tenant.owner_id)[:2] == (1, 1)

    gone = await api.delete(f"{url}?cancel_running=true", headers=auth(tenant))
    assert gone.status_code == 204, gone.text
    assert gone.content == b""
    assert (await api.get(url, headers=auth(tenant))).status_code == 404
    assert counts(sessions, tenant.owner_id)[:2] == (0, 0)

    async def state() -> dict:
        resp = await api.get(f"/api/task-automation/sequences/{workflow_id}/", headers=auth(tenant))
        assert resp.status_code == 200, resp.text
        return resp.json()

    ended = await poll(state, lambda p: p["state"] == "cancelled")
    assert ended["state"] == "cancelled", ended
    assert f"sequence definition {made['id']} deleted" in (ended["stop_reason"] or "")
    kept = await tasks()
    assert len(kept) == 1 and kept[0]["kind"] == "call"


async def test_deleting_one_nothing_runs_is_204(api, tenant, sessions):
    made = await create(api, tenant)
    url = f"{DEFINITIONS}{made['id']}/"
    assert (await api.delete(url, headers=auth(tenant))).status_code == 204
    assert (await api.delete(url, headers=auth(tenant))).status_code == 404
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)


async def test_schedule_sequence_takes_a_type_or_a_definition_not_both(api, tenant, sessions):
    for body in (
        {"sequence_type": "standard", "definition_id": 1},
        {"sequence_type": "gentle", "definition_id": 3},
    ):
        resp = await api.post(
            SCHEDULE, json={"contact_id": tenant.contact_id, **body}, headers=auth(tenant)
        )
        assert resp.status_code == 422, resp.text
        detail = resp.json()["detail"]
        assert "sequence_type" in detail and "definition_id" in detail and "not both" in detail
    for definition_id, field in ((0, "definition_id"), ("1", "definition_id"),
                                 (None, "definition_id")):  # fmt: skip
        resp = await api.post(
            SCHEDULE,
            json={"contact_id": tenant.contact_id, "definition_id": definition_id},
            headers=auth(tenant),
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == field
    unknown = await api.post(
        SCHEDULE,
        json={"contact_id": tenant.contact_id, "definition_id": 10**9},
        headers=auth(tenant),
    )
    assert unknown.status_code == 404
    assert f"sequence definition {10**9} not found" in unknown.json()["detail"]
    assert written(sessions, tenant.owner_id) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"contact_ids": [1], "filter": {}}, "body", ["exactly one of contact_ids or filter"]),
        ({}, "body", ["exactly one of contact_ids or filter"]),
        ({"start_delay_hours": 1}, "body", ["exactly one of contact_ids or filter"]),
        ({"contact_ids": list(range(1, 10_002))}, "contact_ids", ["at most 10000"]),
        ({"contact_ids": []}, "contact_ids", ["at least 1"]),
        ({"contact_ids": [5, 6, 5]}, "contact_ids", ["contact 5 is listed twice"]),
        ({"contact_ids": [5, 5.0]}, "contact_ids", ["contact 5 is listed twice"]),
        ({"contact_ids": None}, "contact_ids", ["can't be null"]),
        ({"contact_ids": [1], "filter": None}, "filter", ["can't be null"]),
        ({"filter": {"status": None}}, "filter.status", ["can't be null"]),
        ({"contact_ids": [0]}, "contact_ids.0", ["greater than or equal to 1"]),
        ({"filter": {"status": "happy"}}, "filter.status", ["lead", "prospect"]),
        ({"filter": {}, "start_delay_hours": -1}, "start_delay_hours",
         ["greater than or equal to 0"]),
    ],
    ids=["both", "neither", "delay-only", "10001-ids", "no-ids", "duplicate", "duplicate-float",
         "null-ids", "null-filter", "null-status", "id-0", "bad-status", "negative-delay"],
)  # fmt: skip
async def test_bad_enrollments_are_422_and_open_no_job(api, tenant, sessions, body, field, words):
    made = await create(api, tenant)
    resp = await api.post(f"{DEFINITIONS}{made['id']}/enroll/", json=body, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    error = resp.json()
    assert error["errors"][0]["field"] == field, error
    for word in words:
        assert word in error["detail"], error["detail"]
    assert counts(sessions, tenant.owner_id)[2] == 0
    assert written(sessions, tenant.owner_id) == (0, 0)


@pytest.mark.parametrize("limit", [0, -1, 1.5, "5", True, 1_000_001])
async def test_enrollment_limit_must_be_positive(api, tenant, limit):
    url = "/api/account/enrollment-limit/"
    resp = await api.put(url, json={"daily_enrollment_limit": limit}, headers=auth(tenant))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "daily_enrollment_limit"
    account = (await api.get("/api/account/", headers=auth(tenant))).json()
    assert account["daily_enrollment_limit"] is None
    for good in (25, None):
        resp = await api.put(url, json={"daily_enrollment_limit": good}, headers=auth(tenant))
        assert resp.status_code == 200, resp.text
        assert resp.json()["daily_enrollment_limit"] == good
    resp = await api.put(url, json={}, headers=auth(tenant))
    assert resp.status_code == 422  # null is said, never implied
    assert resp.json()["errors"][0]["field"] == "daily_enrollment_limit"


# --- create, read, update, delete -----------------------------------------------------------


async def test_create_read_list_update_delete(api, tenant, sessions):
    headers = auth(tenant)
    made = await create(api, tenant)
    assert (made["name"], made["description"], made["builtin"], made["version"]) == (
        "Outreach",
        "three touches",
        False,
        1,
    )
    assert made["running_enrollments"] == 0
    assert made["exit_on"] == {
        "activity_types": ["email_replied", "meeting_booked"],
        "statuses": ["active", "lost"],
    }
    first, second = made["steps"]
    assert first["id"] == "intro"
    assert second["id"].startswith("step-") and second["id"] != first["id"]
    assert first | {"id": None} == {
        "id": None,
        "kind": "call",
        "wait": {"days": 1},
        "placement": "anytime",
        "anchor": "enrollment",
        "max_wait": None,
        "on_max_wait": "create",
        "title_template": TITLE,
        "description_template": "",
        "priority": "medium",
        "reminder_offset_hours": None,
    }
    url = f"{DEFINITIONS}{made['id']}/"
    assert (await api.get(url, headers=headers)).json() == made

    listed = (await api.get(DEFINITIONS, headers=headers)).json()
    assert listed["total"] == len(listed["items"]) == 4
    assert [(d["id"], d["builtin"]) for d in listed["items"]] == [
        (1, True),
        (2, True),
        (3, True),
        (made["id"], False),
    ]
    builtins = listed["items"][:3]
    assert [len(d["steps"]) for d in builtins] == [4, 4, 4]
    assert [s["wait"] for s in builtins[0]["steps"]] == [{"days": d} for d in (1, 3, 7, 14)]

    # The steps sent back as answered (their ids too), the name changed: no new version.
    sent_back = made["steps"]
    renamed = await api.put(
        url, json=BODY | {"name": "Outreach 2", "steps": sent_back}, headers=headers
    )
    assert renamed.status_code == 200, renamed.text
    renamed_body = renamed.json()
    assert (renamed_body["name"], renamed_body["version"]) == ("Outreach 2", 1)
    assert renamed_body["steps"] == made["steps"]
    assert (renamed_body["apply_to_running"], renamed_body["migrated"]) == ("none", 0)
    assert counts(sessions, tenant.owner_id)[:2] == (1, 1)

    # A step changed: version 2, the ids that were sent back kept.
    changed_steps = [*sent_back[:1], sent_back[1] | {"wait": {"days": 2}}, step({"days": 5})]
    put = await api.put(
        url, json=BODY | {"name": "Outreach 2", "steps": changed_steps}, headers=headers
    )
    assert put.status_code == 200, put.text
    v2 = put.json()
    assert v2["version"] == 2
    assert [s["id"] for s in v2["steps"][:2]] == [first["id"], second["id"]]
    assert v2["steps"][1]["wait"] == {"days": 2}
    assert v2["steps"][2]["id"].startswith("step-")
    assert counts(sessions, tenant.owner_id)[:2] == (1, 2)

    # PATCH: the fields given; the description alone is no new version, exit_on is.
    patched = await api.patch(url, json={"description": "now four"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["description"], patched.json()["version"]) == ("now four", 2)
    assert patched.json()["steps"] == v2["steps"] and patched.json()["name"] == "Outreach 2"
    exits = {"activity_types": ["form_submitted"], "statuses": []}
    patched = await api.patch(url, json={"exit_on": exits}, headers=headers)
    assert (patched.json()["version"], patched.json()["exit_on"]) == (3, exits)
    patched = await api.patch(
        url, json={"steps": [step({"hours": 4}, "enrollment")]}, headers=headers
    )
    assert patched.json()["version"] == 4 and len(patched.json()["steps"]) == 1
    assert (await api.get(url, headers=headers)).json()["version"] == 4
    assert counts(sessions, tenant.owner_id)[:2] == (1, 4)

    assert (await api.delete(url, headers=headers)).status_code == 204
    assert (await api.get(url, headers=headers)).status_code == 404
    listed = (await api.get(DEFINITIONS, headers=headers)).json()
    assert [d["id"] for d in listed["items"]] == [1, 2, 3]
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)


async def test_writes_at_once_are_one_at_a_time(api, tenant, sessions):
    """Found while fuzzing by hand: ten creates at once with one name made ten definitions
    (the name was checked outside the write), ten PUTs at once 500'd on the version number,
    and PATCHes racing a DELETE 500'd. Now one is made and nine are 409, versions 2 to 11,
    and a PATCH after the DELETE is a 404."""
    headers = auth(tenant)
    made = await asyncio.gather(*(api.post(DEFINITIONS, json=BODY, headers=headers)
                                  for _ in range(10)))  # fmt: skip
    assert sorted(r.status_code for r in made) == [201] + [409] * 9
    assert counts(sessions, tenant.owner_id)[:2] == (1, 1)
    url = f"{DEFINITIONS}{next(r for r in made if r.status_code == 201).json()['id']}/"
    puts = await asyncio.gather(
        *(api.put(url, json=steps_of(step({"days": n})), headers=headers) for n in range(1, 11))
    )
    assert [r.status_code for r in puts] == [200] * 10, [r.text for r in puts]
    assert sorted(r.json()["version"] for r in puts) == list(range(2, 12))
    patches = [api.patch(url, json={"steps": [step({"hours": n})]}, headers=headers)
               for n in range(1, 6)]  # fmt: skip
    answers = await asyncio.gather(*patches, api.delete(url, headers=headers))
    assert answers[-1].status_code == 204
    assert {r.status_code for r in answers[:-1]} <= {200, 404}, [r.text for r in answers]
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)


# --- preview --------------------------------------------------------------------------------

PREVIEWED = steps_of(
    step({"days": 1}, "enrollment", "call", id="call", reminder_offset_hours=2),
    step({"hours": 6}, kind="email", id="email", description_template="due {{ due_date }}"),
    step({"days": 2}, "previous_completed", "linkedin", id="connect", max_wait={"days": 3}),
    step({"days": 1}, kind="todo", id="note"),
)


def check_preview(preview: dict, name: str, contact: str) -> None:
    start = datetime.fromisoformat(START)
    got = preview["steps"]
    assert [s["number"] for s in got] == [1, 2, 3, 4]
    assert [s["id"] for s in got] == ["call", "email", "connect", "note"]
    assert [s["kind"] for s in got] == ["call", "email", "linkedin", "todo"]
    assert [s["title"] for s in got] == [f"{n}/4 {contact} ({name})" for n in (1, 2, 3, 4)]
    first_due = start + timedelta(days=1)
    assert datetime.fromisoformat(got[0]["due_at"]) == first_due
    assert datetime.fromisoformat(got[0]["reminder_at"]) == first_due - timedelta(hours=2)
    assert datetime.fromisoformat(got[1]["due_at"]) == first_due + timedelta(hours=6)
    assert got[1]["reminder_at"] is None
    assert got[1]["description"].startswith("due 2030-01-08")
    assert [s["note"] for s in got[:2]] == [None, None]
    for waiting in got[2:]:
        assert (waiting["due_at"], waiting["reminder_at"]) == (None, None)
    assert "previous task is completed" in got[2]["note"]
    assert "create after 72 h without it" in got[2]["note"]
    assert "earlier step that waits for a completion" in got[3]["note"]


async def test_preview_of_a_saved_definition_writes_nothing(api, tenant, sessions):
    made = await create(api, tenant, PREVIEWED, name="Preview me")
    before = (counts(sessions, tenant.owner_id), written(sessions, tenant.owner_id))
    resp = await api.post(
        f"{DEFINITIONS}{made['id']}/preview/",
        json={"contact_id": tenant.contact_id, "start_at": START},
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    preview = resp.json()
    assert (preview["definition_id"], preview["version"]) == (made["id"], 1)
    check_preview(preview, "Preview me", tenant.contact_name)
    assert (counts(sessions, tenant.owner_id), written(sessions, tenant.owner_id)) == before
    assert written(sessions, tenant.owner_id) == (0, 0)
    tasks = await api.get("/api/tasks/", headers=auth(tenant))
    assert tasks.json()["total"] == 0

    # Without start_at: from now.
    resp = await api.post(
        f"{DEFINITIONS}{made['id']}/preview/",
        json={"contact_id": tenant.contact_id},
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    due = datetime.fromisoformat(resp.json()["steps"][0]["due_at"])
    assert abs(due - (datetime.now(due.tzinfo) + timedelta(days=1))) < timedelta(minutes=10)


async def test_preview_of_a_builtin(api, tenant):
    resp = await api.post(
        f"{DEFINITIONS}2/preview/",
        json={"contact_id": tenant.contact_id, "start_at": START},
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()["steps"]
    start = datetime.fromisoformat(START)
    assert [datetime.fromisoformat(s["due_at"]) - start for s in got] == [
        timedelta(days=d) for d in (1, 2, 4, 7)
    ]
    assert got[0]["title"] == f"Follow up with {tenant.contact_name} (1/4)"


async def test_preview_of_a_draft_writes_nothing(api, tenant, sessions):
    resp = await api.post(
        f"{DEFINITIONS}preview/",
        json={
            "contact_id": tenant.contact_id,
            "start_at": START,
            "definition": PREVIEWED | {"name": "Draft"},
        },
        headers=auth(tenant),
    )
    assert resp.status_code == 200, resp.text
    preview = resp.json()
    assert (preview["definition_id"], preview["version"]) == (None, None)
    check_preview(preview, "Draft", tenant.contact_name)
    assert counts(sessions, tenant.owner_id) == (0, 0, 0)
    assert written(sessions, tenant.owner_id) == (0, 0)


async def test_a_preview_for_an_unknown_contact_is_404_naming_the_contact(api, tenant):
    made = await create(api, tenant)
    for url, extra in (
        (f"{DEFINITIONS}{made['id']}/preview/", {}),
        (f"{DEFINITIONS}preview/", {"definition": BODY}),
    ):
        resp = await api.post(url, json={"contact_id": 10**9, **extra}, headers=auth(tenant))
        assert resp.status_code == 404, resp.text
        assert f"contact {10**9} not found" in resp.json()["detail"]


async def test_a_preview_starts_within_the_years_it_can_count(api, tenant):
    """Fifty steps of a year each after the start, a reminder a year before a step: the start
    is between the years 2 and 9900 (the document's pattern says 3 to 9899, offsets aside)."""
    url = f"{DEFINITIONS}1/preview/"
    long = steps_of(*[step({"days": 365}, reminder_offset_hours=8760) for _ in range(50)])
    for start_at, status in [
        ("9899-12-31T23:59:59+00:00", 200),
        ("0003-01-01T00:00:00+00:00", 200),
        ("9999-12-31T00:00:00+00:00", 422),
        ("0001-06-01T00:00:00+00:00", 422),
        ("0002-01-01T00:00:00+01:00", 422),
    ]:
        for path, extra in ((url, {}), (f"{DEFINITIONS}preview/", {"definition": long})):
            body = {"contact_id": tenant.contact_id, "start_at": start_at, **extra}
            resp = await api.post(path, json=body, headers=auth(tenant))
            assert resp.status_code == status, (start_at, path, resp.text)
            if status == 422:
                assert resp.json()["errors"][0]["field"] == "start_at"
                assert "between the years 2 and 9900" in resp.json()["detail"]


async def test_definition_paths_take_numbers_only(api, tenant):
    """Finding (ST204): PUT /definitions/preview/ matched /definitions/{definition_id}/ and
    answered 422; an id is a number, so that path answers 405 naming POST."""
    resp = await api.put(f"{DEFINITIONS}preview/", json=BODY, headers=auth(tenant))
    assert resp.status_code == 405, resp.text
    assert resp.headers["allow"] == "POST"
    for path in ("abc/", "1/enroll-jobs/x/", "-1/"):
        resp = await api.get(f"{DEFINITIONS}{path}", headers=auth(tenant))
        assert resp.status_code == 404, (path, resp.text)
    for path in ("0/", f"{2**31}/", "1/enroll-jobs/0/"):
        resp = await api.get(f"{DEFINITIONS}{path}", headers=auth(tenant))
        assert resp.status_code == 422, (path, resp.text)
    resp = await api.get(f"{DEFINITIONS}{10**9}/", headers=auth(tenant))
    assert resp.status_code == 404
    assert f"sequence definition {10**9} not found" in resp.json()["detail"]


# --- isolation ------------------------------------------------------------------------------


async def test_another_owners_definitions_are_not_found(api, make_tenant, sessions):
    a, b = make_tenant(), make_tenant("Grace Hopper", "grace@example.com")
    mine = await create(api, a)
    job = await api.post(
        f"{DEFINITIONS}{mine['id']}/enroll/",
        json={"contact_ids": [a.contact_id, b.contact_id]},
        headers=auth(a),
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    assert job.json()["total"] in (0, 2)  # the job resolves its contacts in the background
    url = f"{DEFINITIONS}{mine['id']}/"
    before = counts(sessions, a.owner_id)
    attempts = [
        ("GET", url, None),
        ("PUT", url, BODY | {"name": "Taken"}),
        ("PATCH", url, {"name": "Taken"}),
        ("DELETE", url, None),
        ("DELETE", f"{url}?cancel_running=true", None),
        ("POST", f"{url}preview/", {"contact_id": b.contact_id}),
        ("POST", f"{url}enroll/", {"contact_ids": [b.contact_id]}),
        ("POST", f"{url}enroll/", {"filter": {}}),
        ("GET", f"{url}enroll-jobs/{job_id}/", None),
    ]
    for method, path, body in attempts:
        resp = await api.request(method, path, json=body, headers=auth(b))
        assert resp.status_code == 404, (method, path, resp.text)
        assert f"sequence definition {mine['id']} not found" in resp.json()["detail"] or (
            "enrollment job" in resp.json()["detail"]
        )
    resp = await api.post(
        SCHEDULE,
        json={"contact_id": b.contact_id, "definition_id": mine["id"]},
        headers=auth(b),
    )
    assert resp.status_code == 404, resp.text
    assert f"sequence definition {mine['id']} not found" in resp.json()["detail"]
    assert written(sessions, b.owner_id) == (0, 0)
    assert counts(sessions, b.owner_id) == (0, 0, 0)
    assert counts(sessions, a.owner_id) == before
    listed = (await api.get(DEFINITIONS, headers=auth(b))).json()
    assert [d["id"] for d in listed["items"]] == [1, 2, 3]

    # B's own definition doesn't reach A's job either.
    theirs = await create(api, b)
    resp = await api.get(f"{DEFINITIONS}{theirs['id']}/enroll-jobs/{job_id}/", headers=auth(b))
    assert resp.status_code == 404
    # A can't name B's definition, nor B's contact: the job skips it, saying why.
    resp = await api.post(
        f"{DEFINITIONS}{theirs['id']}/enroll/", json={"filter": {}}, headers=auth(a)
    )
    assert resp.status_code == 404

    async def report() -> dict:
        resp = await api.get(f"{url}enroll-jobs/{job_id}/", headers=auth(a))
        assert resp.status_code == 200, resp.text
        return resp.json()

    done = await poll(report, lambda r: r["status"] == "completed")
    assert done["status"] == "completed", done
    assert (done["total"], done["enrolled"], done["skipped"], done["pending"]) == (2, 1, 1, 0)
    assert done["skipped_contacts"] == [
        {"contact_id": b.contact_id, "reason": "no such contact of yours"}
    ]
    assert done["temporal_ui_url"].startswith("http")
    assert written(sessions, b.owner_id) == (0, 0)
    with sessions() as session:
        batches = session.scalars(
            select(TaskBatch.contact_id).where(TaskBatch.owner_id == a.owner_id)
        ).all()
    assert batches == [a.contact_id]


# --- built-ins by id ------------------------------------------------------------------------


async def test_a_builtin_by_id_runs_its_preset(api, tenant):
    resp = await api.post(
        SCHEDULE,
        json={"contact_id": tenant.contact_id, "definition_id": 1},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    started = resp.json()
    workflow_id = started["workflow_id"]
    assert workflow_id == f"sequence-{tenant.owner_id}-{tenant.contact_id}-standard"
    assert [p["step"] for p in started["planned"]] == [1, 2, 3, 4]
    first = datetime.fromisoformat(started["planned"][0]["due_at"])
    assert [datetime.fromisoformat(p["due_at"]) - first for p in started["planned"]] == [
        timedelta(days=d) for d in (0, 2, 6, 13)
    ]
    progress = await api.get(f"/api/task-automation/sequences/{workflow_id}/", headers=auth(tenant))
    assert progress.json()["sequence_type"] == "standard"
    # The same preset by name is the same sequence: already running.
    again = await api.post(
        SCHEDULE,
        json={"contact_id": tenant.contact_id, "sequence_type": "standard"},
        headers=auth(tenant),
    )
    assert again.status_code == 200 and again.json()["workflow_id"] == workflow_id
    await api.post(f"/api/task-automation/sequences/{workflow_id}/cancel/", headers=auth(tenant))


# --- what the document states, and what the contract generator is taught -------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def schema_takes(document: dict[str, Any], name: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema).is_valid(body)


@pytest.mark.parametrize(
    ("name", "body", "valid"),
    [
        ("DefinitionIn", BODY, True),
        ("DefinitionIn", with_step(0, anchor="previous_completed"), False),
        ("DefinitionIn", with_step(1, max_wait={"days": 3}), False),
        ("DefinitionIn", with_step(1, anchor="previous_completed", max_wait={"days": 3}), True),
        ("DefinitionIn", with_step(1, max_wait=None), True),
        ("DefinitionIn", with_step(0, wait={"days": 366}), False),
        ("DefinitionIn", with_step(0, wait={"hours": -1}), False),
        ("DefinitionIn", with_step(0, wait={"days": 1, "hours": 1}), False),
        ("DefinitionIn", with_step(0, wait={"days": 1, "hours": None}), False),
        ("DefinitionIn", with_step(0, id=None), False),
        ("DefinitionPatch", {"name": None}, False),
        ("DefinitionPatch", {"steps": [step({"days": 1}, "previous_completed")]}, False),
        ("DefinitionPatch", {"steps": [step({"days": 1}), step({"days": 1}, "previous_completed")]},
         True),
        ("ScheduleSequenceIn", {"contact_id": 1, "definition_id": 1}, True),
        ("ScheduleSequenceIn", {"contact_id": 1, "sequence_type": "gentle"}, True),
        ("ScheduleSequenceIn", {"contact_id": 1, "sequence_type": "gentle", "definition_id": 1},
         False),
        ("ScheduleSequenceIn", {"contact_id": 1, "definition_id": None}, False),
        ("BulkEnrollIn", {"contact_ids": [1, 2]}, True),
        ("BulkEnrollIn", {"contact_ids": [1, 1]}, False),
        ("BulkEnrollIn", {"contact_ids": [1], "filter": {}}, False),
        ("BulkEnrollIn", {"filter": None}, False),
        ("BulkEnrollIn", {}, False),
        ("EnrollmentLimitIn", {"daily_enrollment_limit": 0}, False),
        ("EnrollmentLimitIn", {"daily_enrollment_limit": None}, True),
        ("DefinitionPreviewIn", {"contact_id": 1, "start_at": "9999-01-01T00:00:00Z"}, False),
        ("DefinitionPreviewIn", {"contact_id": 1, "start_at": "2030-01-01T00:00:00Z"}, True),
    ],
)  # fmt: skip
def test_the_document_states_the_rules_it_can(document, name, body, valid):
    """Findings (ST201, ST202): bounds documented as pydantic's ge/le, nulls accepted that the
    document refuses, and rules (one of a type or a definition, a first step that waits for
    nothing, max_wait after a completion only, each contact once) only the server knew. Each is
    a 422 above; the document now says so too, and agrees with the server."""
    assert schema_takes(document, name, body) is valid


def test_names_of_the_bodies_stay_put(document):
    """The new bodies don't take the names of the campaigns' and rules' (StepIn, EnrollIn,
    ContactFilter), which pydantic would rename by module, breaking their clients."""
    schemas = document["components"]["schemas"]
    assert {"StepIn", "EnrollIn", "ContactFilter"} <= schemas.keys()
    assert "delay_days" in schemas["StepIn"]["properties"]
    assert {"DefinitionStepIn", "BulkEnrollIn", "EnrollFilter"} <= schemas.keys()
    assert not [n for n in schemas if "__" in n]


async def test_the_generator_gives_each_step_its_own_id(api, tenant):
    """The one rule the document can't state (unique by one key of each step): 422 above; the
    hook repairs a case drawn as valid, wherever steps are sent."""
    body = steps_of(
        step({"days": 1}, id="a"), step({"days": 1}, id="a"), step({"days": 1}, id="a-1")
    )
    resp = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 422 and "used twice" in resp.json()["detail"]
    item = "/api/task-automation/sequences/definitions/{definition_id}/"
    for path, method, payload in (
        (DEFINITIONS, "POST", copy.deepcopy(body)),
        (item, "PUT", copy.deepcopy(body)),
        (item, "PATCH", {"steps": copy.deepcopy(body["steps"])}),
        (f"{DEFINITIONS}preview/", "POST",
         {"contact_id": tenant.contact_id, "definition": copy.deepcopy(body)}),
    ):  # fmt: skip
        repair(path, method, payload)
        ids = [s["id"] for s in (payload.get("definition") or payload)["steps"]]
        assert len(set(ids)) == 3 and ids[0] == "a", (method, path, ids)
    repair(DEFINITIONS, "POST", body)
    resp = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text


async def test_the_generator_previews_for_a_contact_that_exists(api, tenant, monkeypatch):
    """As for a rule's preview: an unknown contact is a 404 naming it (tested above), which the
    stateful phase would read as the definition it just made being gone."""
    made = await create(api, tenant)
    monkeypatch.setenv("NUDGE_CONTRACT_CONTACT", str(tenant.contact_id))
    for path, url, body in (
        ("/api/task-automation/sequences/definitions/{definition_id}/preview/",
         f"{DEFINITIONS}{made['id']}/preview/", {"contact_id": 114230655}),
        (f"{DEFINITIONS}preview/", f"{DEFINITIONS}preview/",
         {"contact_id": 114230655.0, "definition": BODY}),
    ):  # fmt: skip
        resp = await api.post(url, json=body, headers=auth(tenant))
        assert resp.status_code == 404 and "contact 114230655" in resp.json()["detail"]
        repair(path, "POST", body)
        resp = await api.post(url, json=body, headers=auth(tenant))
        assert resp.status_code == 200, resp.text
