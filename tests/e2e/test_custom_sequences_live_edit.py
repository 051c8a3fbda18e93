"""Live edits on the time-skipping server: 50 enrollments sitting at different steps adopt a
new version (future_steps) and end with exactly the tasks it implies, none doubled or lost;
with `none` they finish on the version they run."""

import uuid
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from nudge.core.models import Contact, Task
from nudge.platform.db import transaction
from tests.support import auth, poll

DEFINITIONS = "/api/task-automation/sequences/definitions/"


def step(step_id: str, days: float, anchor: str = "previous_due") -> dict:
    return {
        "id": step_id,
        "kind": "todo",
        "wait": {"days": days},
        "anchor": anchor,
        "title_template": step_id + " {{ contact_name }}",
    }


V1 = [step("A", 1, "enrollment"), step("B", 1), step("C", 1), step("D", 1), step("E", 1)]
# C removed, D waits 2 days, X added between A and B, F added at the end.
V2 = [step("A", 1, "enrollment"), step("X", 1), step("B", 1), step("D", 2), step("E", 1),
      step("F", 1)]  # fmt: skip

GROUPS = 5  # started a day apart
PER_GROUP = 10
EDIT_AT = 4.5  # days after the first group started

# Per group: (steps made, in order, with the day each is due, counted from its own start).
# g0 has made A-D and waits for E (anchored on D's due, day 4); g1 made A-C and waits for D
# (anchored on C, day 3: 3 + 2); g2 waits for C, which is removed, so D counts from B;
# g3 made A only, so X is after its position and is added; g4 has made nothing yet.
EXPECTED = {
    0: {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6},
    1: {"A": 1, "B": 2, "C": 3, "D": 5, "E": 6, "F": 7},
    2: {"A": 1, "B": 2, "D": 4, "E": 5, "F": 6},
    3: {"A": 1, "X": 2, "B": 2, "D": 4, "E": 5, "F": 6},
    4: {"A": 1, "X": 2, "B": 3, "D": 5, "E": 6, "F": 7},
}


def add_contacts(sessions, owner_id: int, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        tag = uuid.uuid4().hex[:6]
        rows = [
            Contact(owner_id=owner_id, external_id=f"le-{tag}-{i}", name=f"C{i}") for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [c.id for c in rows]


def tasks_by_contact(sessions, owner_id: int) -> dict[int, list[Task]]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        found = session.scalars(select(Task).where(Task.owner_id == owner_id)).all()
    out: dict[int, list[Task]] = {}
    for task in found:
        assert task.contact_id is not None
        out.setdefault(task.contact_id, []).append(task)
    return out


async def start_all(api, tenant, definition_id: int, contacts: list[int]) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    started = {}
    for contact_id in contacts:
        resp = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": contact_id, "definition_id": definition_id},
            headers=auth(tenant),
        )
        assert resp.status_code == 201, resp.text
        started[contact_id] = resp.json()
    return started


async def test_future_steps_migrates_fifty_enrollments_at_different_steps(
    api, time_env, tenant, sessions
):
    resp = await api.post(DEFINITIONS, json={"name": "live", "steps": V1}, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    definition = resp.json()
    contacts = add_contacts(sessions, tenant.owner_id, GROUPS * PER_GROUP)
    groups = [contacts[g * PER_GROUP : (g + 1) * PER_GROUP] for g in range(GROUPS)]
    starts: dict[int, datetime] = {}
    workflows: dict[int, str] = {}
    first = await time_env.get_current_time()
    for g, members in enumerate(groups):
        if g:
            await time_env.sleep(first + timedelta(days=g) - await time_env.get_current_time())
        for contact_id, out in (await start_all(api, tenant, definition["id"], members)).items():
            starts[contact_id] = datetime.fromisoformat(out["planned"][0]["due_at"]) - timedelta(
                days=1
            )
            workflows[contact_id] = out["workflow_id"]
    await time_env.sleep(first + timedelta(days=EDIT_AT) - await time_env.get_current_time())
    before = tasks_by_contact(sessions, tenant.owner_id)
    assert {g: len(before.get(groups[g][0], [])) for g in range(GROUPS)} == {
        0: 4, 1: 3, 2: 2, 3: 1, 4: 0
    }  # fmt: skip

    edit = await api.put(
        f"{DEFINITIONS}{definition['id']}/",
        json={"name": "live", "steps": V2, "apply_to_running": "future_steps"},
        headers=auth(tenant),
    )
    assert edit.status_code == 200, edit.text
    assert (edit.json()["version"], edit.json()["migrated"]) == (2, GROUPS * PER_GROUP)

    await time_env.sleep(timedelta(days=10))
    for g, members in enumerate(groups):
        for contact_id in members:
            progress = await poll(
                lambda c=contact_id: api.get(
                    f"/api/task-automation/sequences/{workflows[c]}/", headers=auth(tenant)
                ),
                lambda r: r.json()["state"] == "completed",
            )
            body = progress.json()
            assert body["state"] == "completed", (g, body)
            assert body["version"] == 2
            assert [(m["from_version"], m["to_version"]) for m in body["migrations"]] == [(1, 2)]
    after = tasks_by_contact(sessions, tenant.owner_id)
    for g, members in enumerate(groups):
        for contact_id in members:
            made = after[contact_id]
            ids = [t.title.split(" ")[0] for t in made]
            assert Counter(ids) == Counter(EXPECTED[g].keys()), (g, sorted(ids))  # none twice
            days = {
                t.title.split(" ")[0]: (t.due_at - starts[contact_id]) / timedelta(days=1)
                for t in made
            }
            assert days == {k: float(v) for k, v in EXPECTED[g].items()}, (g, days)


async def test_none_keeps_running_enrollments_on_their_version(
    api, time_env, make_tenant, sessions
):
    tenant = make_tenant()
    resp = await api.post(DEFINITIONS, json={"name": "keep", "steps": V1}, headers=auth(tenant))
    definition = resp.json()
    contacts = add_contacts(sessions, tenant.owner_id, 10)
    started = await start_all(api, tenant, definition["id"], contacts)
    await time_env.sleep(timedelta(days=2, hours=12))
    edit = await api.put(
        f"{DEFINITIONS}{definition['id']}/",
        json={"name": "keep", "steps": V2},  # apply_to_running defaults to none
        headers=auth(tenant),
    )
    assert edit.status_code == 200, edit.text
    assert (edit.json()["version"], edit.json()["migrated"]) == (2, 0)
    # A contact enrolled after the edit runs version 2.
    late = add_contacts(sessions, tenant.owner_id, 1)[0]
    late_start = await start_all(api, tenant, definition["id"], [late])
    assert late_start[late]["version"] == 2
    await time_env.sleep(timedelta(days=10))
    after = tasks_by_contact(sessions, tenant.owner_id)
    for contact_id in contacts:
        body = (
            await api.get(
                f"/api/task-automation/sequences/{started[contact_id]['workflow_id']}/",
                headers=auth(tenant),
            )
        ).json()
        assert (body["state"], body["version"], body["migrations"]) == ("completed", 1, [])
        assert sorted(t.title.split(" ")[0] for t in after[contact_id]) == list("ABCDE")
    assert sorted(t.title.split(" ")[0] for t in after[late]) == sorted("AXBDEF")
