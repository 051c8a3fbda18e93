"""Score-based priority end to end on the time-skipping server: a status_change rule and a
custom sequence step, each with a priority by score, write their task with the priority the
contact's score picks when the task is written (not when the event came in)."""

from datetime import timedelta

from sqlalchemy import select

from nudge.core.models import Task
from tests.e2e.test_rules_time_skipping import ONBOARDING_RULE, RULES, contact_tasks
from tests.support import auth, poll

DEFINITIONS = "/api/task-automation/sequences/definitions/"
BY_SCORE = {"by_score": [[80, "urgent"], [50, "high"], [20, "medium"]], "else": "low"}


async def score(api, tenant, value: int | None) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/contacts/{tenant.contact_id}/"
    resp = await api.patch(url, json={"score": value}, headers=auth(tenant))
    assert resp.status_code == 200 and resp.json()["score"] == value, resp.text


def stored_priorities(sessions, owner_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Task.priority).where(Task.owner_id == owner_id)))


async def test_a_status_change_rule_by_score_writes_the_priority_of_the_score_then(
    api, time_env, make_tenant, sessions
):
    tenant = make_tenant(name="Scored Lead")
    await score(api, tenant, 30)  # "medium" when the event comes in …
    resp = await api.post(
        RULES, json=ONBOARDING_RULE | {"task_priority": BY_SCORE}, headers=auth(tenant)
    )
    assert resp.status_code == 201, resp.text
    now = await time_env.get_current_time()
    event = {
        "event_id": "score-status-1",
        "contact_id": tenant.contact_id,
        "new_status": "active",
        "occurred_at": now.isoformat(),
    }
    resp = await api.post("/api/events/status-changes/", json=event, headers=auth(tenant))
    assert resp.status_code == 201 and len(resp.json()["firings"]) == 1, resp.text
    await score(api, tenant, 90)  # … and 90 by the time the task is written (2 h later)
    await time_env.sleep(timedelta(hours=2, minutes=10))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    assert [t["priority"] for t in tasks] == ["urgent"]
    assert stored_priorities(sessions, tenant.owner_id) == ["urgent"]  # the row, for stats
    stats = await api.get("/api/task-automation/stats/", headers=auth(tenant))
    assert stats.status_code == 200, stats.text
    assert stats.json()["tasks"]["by_priority"]["urgent"] == 1


async def test_a_custom_step_by_score_writes_its_task_with_the_resolved_priority(
    api, time_env, make_tenant, sessions
):
    tenant = make_tenant(name="Scored Prospect")
    await score(api, tenant, 55)
    step = {
        "id": "call",
        "kind": "call",
        "wait": {"hours": 1},
        "anchor": "enrollment",
        "title_template": "Call {{ contact_name }}",
    }
    body = {
        "name": "Scored steps",
        "steps": [
            step | {"priority": BY_SCORE},
            step | {"id": "plain", "wait": {"hours": 2}, "priority": "urgent"},
        ],
    }
    made = await api.post(DEFINITIONS, json=body, headers=auth(tenant))
    assert made.status_code == 201, made.text
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": made.json()["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    await time_env.sleep(timedelta(hours=2, minutes=10))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 2)
    by_title = sorted((t["due_at"], t["priority"]) for t in tasks)
    assert [p for _, p in by_title] == ["high", "urgent"]
    assert sorted(stored_priorities(sessions, tenant.owner_id)) == ["high", "urgent"]
