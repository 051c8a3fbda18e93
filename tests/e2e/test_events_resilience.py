"""Events that arrive twice, at once, or while Temporal is down: nothing lost or doubled."""

import asyncio
import json
from datetime import datetime, timedelta

from sqlalchemy import select
from temporalio.client import Client

from api.embedded import free_port, serve_api
from nudge.core.models import RuleFiring
from nudge.platform.temporal import DATA_CONVERTER
from nudge.reminders.webhooks import internal_target
from tests.e2e.test_rules_time_skipping import (
    EMAIL_OPEN_RULE,
    ONBOARDING_RULE,
    RULES,
    contact_tasks,
    make_rule,
)
from tests.support import auth, poll


async def test_twenty_concurrent_status_patches_fire_once(api, time_env, tenant):
    rule = await make_rule(
        api,
        tenant,
        ONBOARDING_RULE | {"trigger_config": {"from_status": "*", "to_status": "active"}},
    )
    url = f"/api/contacts/{tenant.contact_id}/"
    answers = await asyncio.gather(
        *(api.patch(url, json={"status": "active"}, headers=auth(tenant)) for _ in range(20))
    )
    assert {r.status_code for r in answers} == {200}
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).json()
    assert counted["times_triggered"] == 1


async def test_a_status_change_to_the_same_status_fires_nothing(api, tenant):
    rule = await make_rule(api, tenant, ONBOARDING_RULE | {"trigger_config": {"to_status": "lead"}})
    resp = await api.post(
        "/api/events/status-changes/",
        json={"event_id": "same", "contact_id": tenant.contact_id, "new_status": "lead"},
        headers=auth(tenant),
    )
    assert resp.status_code == 201 and resp.json()["firings"] == []
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).json()
    assert counted["times_triggered"] == 0


async def test_an_event_that_met_a_503_is_finished_by_its_redelivery(
    api, time_env, tenant, sessions
):
    headers = auth(tenant)
    await make_rule(
        api, tenant, EMAIL_OPEN_RULE | {"delay_hours": 1, "reminder_offset_hours": None}
    )
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id},
        headers=headers,
    )
    wf = started.json()["workflow_id"]
    now = (await time_env.get_current_time()).isoformat()
    body = {"event_id": "reply-1", "contact_id": tenant.contact_id,
            "activity_type": "email_replied", "occurred_at": now}  # fmt: skip
    opened = body | {"event_id": "open-1", "activity_type": "email_opened"}
    dead = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True
    )
    async with serve_api(dead, sessions, "unused") as down:
        for event in (body, opened):
            resp = await down.post("/api/events/activities/", json=event, headers=headers)
            assert resp.status_code == 503 and "again is safe" in resp.json()["detail"]

    again = await api.post("/api/events/activities/", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["sequences_signalled"] == [wf]
    progress = await poll(
        lambda: api.get(f"/api/task-automation/sequences/{wf}/", headers=headers),
        lambda r: r.json()["state"] == "stopped",
    )
    assert progress.json()["stop_reason"] == "contact event: email_replied"

    again = await api.post("/api/events/activities/", json=opened, headers=headers)
    assert again.status_code == 200 and len(again.json()["firings"]) == 1
    await time_env.sleep(timedelta(hours=2))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    assert [t["source"].split(":")[0] for t in tasks] == ["rule"]
    # A third delivery, now fully processed, tells nobody again.
    third = await api.post("/api/events/activities/", json=opened, headers=headers)
    assert third.json()["sequences_signalled"] == []


async def test_a_patch_after_a_503_finishes_the_status_change(api, time_env, tenant, sessions):
    headers = auth(tenant)
    rule = await make_rule(api, tenant, ONBOARDING_RULE | {"delay_hours": 0})
    url = f"/api/contacts/{tenant.contact_id}/"
    dead = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True
    )
    async with serve_api(dead, sessions, "unused") as down:
        assert (
            await down.patch(url, json={"status": "active"}, headers=headers)
        ).status_code == 503
    assert (await api.patch(url, json={"status": "active"}, headers=headers)).status_code == 200

    async def history() -> dict:
        return (await api.get(f"{RULES}{rule['id']}/firings/", headers=headers)).json()

    fired = await poll(history, lambda h: h["items"][0]["state"] == "created")
    assert fired["total"] == 1 and fired["items"][0]["state"] == "created"


async def test_editing_a_rule_does_not_move_a_pending_firing(api, time_env, tenant, sessions):
    rule = await make_rule(api, tenant, EMAIL_OPEN_RULE)
    now = await time_env.get_current_time()
    resp = await api.post(
        "/api/events/activities/",
        json={"event_id": "edit-1", "contact_id": tenant.contact_id,
              "activity_type": "email_opened", "occurred_at": now.isoformat()},
        headers=auth(tenant),
    )  # fmt: skip
    planned_due = datetime.fromisoformat(resp.json()["firings"][0]["due_at"])
    await api.patch(
        f"{RULES}{rule['id']}/",
        json={"delay_hours": 48, "reminder_offset_hours": 47},
        headers=auth(tenant),
    )
    await time_env.sleep(timedelta(hours=5))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    assert datetime.fromisoformat(tasks[0]["due_at"]) == planned_due
    assert planned_due - datetime.fromisoformat(tasks[0]["reminder_at"]) == timedelta(hours=1)


async def test_a_render_failure_is_a_recorded_skip(api, time_env, tenant):
    rule = await make_rule(
        api,
        tenant,
        EMAIL_OPEN_RULE | {"task_title_template": "{{ contact_name | round }}", "delay_hours": 0,
                           "reminder_offset_hours": None},
    )  # fmt: skip
    await api.post(
        "/api/events/activities/",
        json={"event_id": "round-1", "contact_id": tenant.contact_id,
              "activity_type": "email_opened"},
        headers=auth(tenant),
    )  # fmt: skip

    async def history() -> dict:
        return (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()

    fired = await poll(history, lambda h: h["items"][0]["state"] != "scheduled")
    assert fired["items"][0]["state"] == "skipped"
    assert "could not render" in fired["items"][0]["reason"]


async def test_deleted_rules_leave_cancelled_firing_rows(api, time_env, tenant, sessions):
    rule = await make_rule(api, tenant, EMAIL_OPEN_RULE)
    now = (await time_env.get_current_time()).isoformat()
    await api.post(
        "/api/events/activities/",
        json={"event_id": "del-2", "contact_id": tenant.contact_id,
              "activity_type": "email_opened", "occurred_at": now},
        headers=auth(tenant),
    )  # fmt: skip
    await api.delete(f"{RULES}{rule['id']}/", headers=auth(tenant))
    with sessions() as session:
        rows = session.scalars(select(RuleFiring).where(RuleFiring.owner_id == tenant.owner_id))
        assert [(f.state, f.reason, f.rule_id) for f in rows] == [
            ("cancelled", "rule deleted", None)
        ]


async def test_more_bad_input_is_422(api, tenant):
    headers = auth(tenant)
    url = f"/api/contacts/{tenant.contact_id}/"
    for body in ({"name": None}, {"status": None}):
        resp = await api.patch(url, json=body, headers=headers)
        assert resp.status_code == 422 and "can't be null" in resp.json()["detail"], body
    # A time zone is optional: null clears it (the owner's calendar zone stands in).
    cleared = await api.patch(url, json={"timezone": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["timezone"] is None
    refused = await api.patch(url, json={"timezone": "Mars/Olympus"}, headers=headers)
    assert refused.status_code == 422 and "unknown time zone" in refused.json()["detail"]
    for when in ("9999-12-31T23:00:00Z", "0001-01-01T00:10:00Z"):
        resp = await api.post(
            "/api/events/activities/",
            json={"event_id": "far", "contact_id": tenant.contact_id,
                  "activity_type": "email_opened", "occurred_at": when},
            headers=headers,
        )  # fmt: skip
        assert resp.status_code == 422 and "within five years" in resp.json()["detail"]
    for config in ('{"grace_hours": NaN}', '{"grace_hours": Infinity}', '{"grace_hours": true}'):
        raw = json.dumps(ONBOARDING_RULE | {"trigger_type": "overdue"})
        raw = raw.replace('"trigger_config": {"from_status": "lead", "to_status": "active"}',
                          f'"trigger_config": {config}')  # fmt: skip
        resp = await api.post(
            RULES, content=raw, headers=headers | {"Content-Type": "application/json"}
        )
        assert resp.status_code == 422, config
    for hook in ("http://[", "ftp://example.com/x", "http://a\u0000b", "not a url"):
        resp = await api.put("/api/account/webhook/", json={"url": hook}, headers=headers)
        assert resp.status_code == 422, hook


def test_internal_webhook_targets_are_recognised():
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data",
                "http://10.0.0.5/", "http://localhost:8000/", "http://[::1]/"):  # fmt: skip
        assert internal_target(url, resolve=False), url
    assert internal_target("https://93.184.215.14/hook", resolve=False) is None
