"""Automation rules end to end over HTTP on the time-skipping server: the seed's examples,
redeliveries, deactivation, template failures, deletion, and a reply ending a sequence."""

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select

from nudge.core.models import Notification
from tests.support import auth, poll

RULES = "/api/task-automation/rules/"
SIGNALLED = "workflow_execution_signaled_event_attributes"

EMAIL_OPEN_RULE = {
    "name": "Email Open Follow-up",
    "trigger_type": "activity",
    "trigger_config": {"activity_types": ["email_opened"]},
    "task_title_template": "Follow up with {{contact_name}} - engaged with email",
    "task_description_template": "{{contact_name}} opened your email - strike while hot!",
    "task_priority": "high",
    "delay_hours": 4,
    "reminder_offset_hours": 1,
    "is_active": True,
}
ONBOARDING_RULE = {
    "name": "New Customer Onboarding",
    "trigger_type": "status_change",
    "trigger_config": {"from_status": "lead", "to_status": "active"},
    "task_title_template": "Onboard {{contact_name}} - New Customer!",
    "task_description_template": "Send welcome email and schedule kickoff call",
    "task_priority": "urgent",
    "delay_hours": 2,
    "is_active": True,
}


async def make_rule(api, tenant, body: dict) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(RULES, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def opened(api, time_env, tenant, event_id: str, activity: str = "email_opened"):  # type: ignore[no-untyped-def]
    now = await time_env.get_current_time()  # the server's clock, which tests move
    resp = await api.post(
        "/api/events/activities/",
        json={
            "event_id": event_id,
            "contact_id": tenant.contact_id,
            "activity_type": activity,
            "occurred_at": now.isoformat(),
        },
        headers=auth(tenant),
    )
    assert resp.status_code in (200, 201), resp.text
    return resp


async def contact_tasks(api, tenant) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=auth(tenant))
    return resp.json()["items"]


async def test_seed_example_1_email_open_follow_up(api, time_env, make_tenant, sessions):
    tenant = make_tenant(name="Grace Hopper", email="grace@example.com")
    rule = await make_rule(api, tenant, EMAIL_OPEN_RULE)
    resp = await opened(api, time_env, tenant, "evt-open-1")
    assert resp.status_code == 201, resp.text
    event = resp.json()
    occurred = await time_env.get_current_time()
    assert [f["rule_id"] for f in event["firings"]] == [rule["id"]]

    await time_env.sleep(timedelta(hours=2, minutes=50))
    assert await contact_tasks(api, tenant) == []  # written when its reminder is due: 3 h
    await time_env.sleep(timedelta(minutes=20))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    assert len(tasks) == 1
    task = tasks[0]
    assert task["title"] == "Follow up with Grace Hopper - engaged with email"
    assert task["description"] == "Grace Hopper opened your email - strike while hot!"
    assert task["priority"] == "high"
    due = datetime.fromisoformat(task["due_at"])
    remind = datetime.fromisoformat(task["reminder_at"])
    assert abs((due - occurred) - timedelta(hours=4)) < timedelta(seconds=5)
    assert due - remind == timedelta(hours=1)

    async def reminder_status() -> str:
        r = await api.get(f"/api/tasks/{task['id']}/", headers=auth(tenant))
        return r.json()["reminder_status"]

    assert await poll(reminder_status, lambda s: s == "delivered") == "delivered"
    with sessions() as session:
        notes = session.scalars(select(Notification).where(Notification.task_id == task["id"]))
        assert len(list(notes)) == 1
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).json()
    assert (counted["times_triggered"], counted["tasks_created"]) == (1, 1)
    history = (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()
    assert [(f["state"], f["task_id"], f["event_id"]) for f in history["items"]] == [
        ("created", task["id"], "evt-open-1")
    ]


async def test_seed_example_2_lead_becomes_customer(api, time_env, make_tenant):
    tenant = make_tenant(name="Grace Hopper")
    await make_rule(api, tenant, ONBOARDING_RULE)
    await make_rule(api, tenant, ONBOARDING_RULE | {"name": "wrong direction",
                    "trigger_config": {"from_status": "active", "to_status": "lead"}})  # fmt: skip
    now = await time_env.get_current_time()
    resp = await api.post(
        "/api/events/status-changes/",
        json={"event_id": "crm-status-1", "contact_id": tenant.contact_id,
              "new_status": "active", "occurred_at": now.isoformat()},
        headers=auth(tenant),
    )  # fmt: skip
    assert resp.status_code == 201 and len(resp.json()["firings"]) == 1
    contact = await api.get(f"/api/contacts/{tenant.contact_id}/", headers=auth(tenant))
    assert contact.json()["status"] == "active"
    await time_env.sleep(timedelta(hours=1, minutes=50))
    assert await contact_tasks(api, tenant) == []
    await time_env.sleep(timedelta(minutes=20))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    assert [(t["title"], t["description"], t["priority"], t["reminder_at"]) for t in tasks] == [
        ("Onboard Grace Hopper - New Customer!", "Send welcome email and schedule kickoff call",
         "urgent", None)
    ]  # fmt: skip


async def test_redeliveries_and_concurrent_duplicates_fire_once(api, time_env, tenant):
    rule = await make_rule(
        api, tenant, EMAIL_OPEN_RULE | {"delay_hours": 1, "reminder_offset_hours": None}
    )
    answers = [await opened(api, time_env, tenant, "evt-dup") for _ in range(10)]
    assert [r.status_code for r in answers] == [201] + [200] * 9
    assert all(r.json()["duplicate"] for r in answers[1:])
    burst = await asyncio.gather(*(opened(api, time_env, tenant, "evt-burst") for _ in range(20)))
    assert sorted(r.status_code for r in burst) == [200] * 19 + [201]
    await time_env.sleep(timedelta(hours=2))
    tasks = await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) >= 2)
    await asyncio.sleep(0.3)
    assert len(await contact_tasks(api, tenant)) == 2 == len(tasks)  # one per distinct event
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).json()
    assert (counted["times_triggered"], counted["tasks_created"]) == (2, 2)
    history = (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()
    assert history["total"] == 2


async def test_a_rule_deactivated_during_its_delay_makes_no_task(api, time_env, tenant):
    rule = await make_rule(api, tenant, EMAIL_OPEN_RULE)
    await opened(api, time_env, tenant, "evt-deact")
    await time_env.sleep(timedelta(hours=1))
    r = await api.patch(f"{RULES}{rule['id']}/", json={"is_active": False}, headers=auth(tenant))
    assert r.status_code == 200 and r.json()["is_active"] is False
    await time_env.sleep(timedelta(hours=5))

    async def history() -> dict:
        return (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()

    fired = await poll(history, lambda h: h["items"][0]["state"] != "scheduled")
    assert [(f["state"], f["reason"]) for f in fired["items"]] == [("skipped", "rule inactive")]
    assert await contact_tasks(api, tenant) == []
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).json()
    assert (counted["times_triggered"], counted["tasks_created"]) == (1, 0)


async def test_a_variable_the_event_lacks_is_a_recorded_skip(api, time_env, tenant):
    rule = await make_rule(
        api,
        tenant,
        EMAIL_OPEN_RULE | {"task_title_template": "Status went to {{ new_status }}",
                           "delay_hours": 0, "reminder_offset_hours": None},
    )  # fmt: skip
    await opened(api, time_env, tenant, "evt-missing")

    async def history() -> dict:
        return (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()

    fired = await poll(history, lambda h: h["items"][0]["state"] != "scheduled")
    state, reason = fired["items"][0]["state"], fired["items"][0]["reason"]
    assert state == "skipped" and "new_status" in reason and "default" in reason
    assert await contact_tasks(api, tenant) == []


async def test_deleting_a_rule_cancels_its_pending_firings(api, time_env, tenant):
    rule = await make_rule(api, tenant, EMAIL_OPEN_RULE)
    event = (await opened(api, time_env, tenant, "evt-del")).json()
    wf = event["firings"][0]["workflow_id"]
    assert (await api.delete(f"{RULES}{rule['id']}/", headers=auth(tenant))).status_code == 204
    assert (await api.get(f"{RULES}{rule['id']}/", headers=auth(tenant))).status_code == 404
    await time_env.sleep(timedelta(hours=5))
    assert await contact_tasks(api, tenant) == []
    desc = await time_env.client.get_workflow_handle(wf).describe()
    assert desc.status.name == "CANCELED"


async def test_a_reply_ends_the_contacts_sequence(api, time_env, tenant):
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard"},
        headers=auth(tenant),
    )
    wf = started.json()["workflow_id"]
    await time_env.sleep(timedelta(days=2))  # step 1 (day 1) made
    await poll(lambda: contact_tasks(api, tenant), lambda t: len(t) == 1)
    event = (await opened(api, time_env, tenant, "evt-reply", "email_replied")).json()
    assert event["sequences_signalled"] == [wf]
    progress = await poll(
        lambda: api.get(f"/api/task-automation/sequences/{wf}/", headers=auth(tenant)),
        lambda r: r.json()["state"] == "stopped",
    )
    assert progress.json()["stop_reason"] == "contact event: email_replied"
    await time_env.sleep(timedelta(days=20))
    assert len(await contact_tasks(api, tenant)) == 1


async def test_only_an_event_that_can_end_a_sequence_is_sent_to_it(api, time_env, tenant):
    """An open or a click ends no preset sequence, so it isn't signalled: no wake-up, no
    history event per open over the sequence's weeks. The reply that can end it is."""
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "gentle"},
        headers=auth(tenant),
    )
    wf = started.json()["workflow_id"]
    for i, activity in enumerate(["email_opened", "email_clicked", "form_submitted"]):
        event = (await opened(api, time_env, tenant, f"evt-quiet-{i}", activity)).json()
        assert event["sequences_signalled"] == [], event
    handle = time_env.client.get_workflow_handle(wf)
    signals = [e async for e in handle.fetch_history_events() if e.HasField(SIGNALLED)]
    assert signals == [] and (await handle.describe()).status.name == "RUNNING"
    event = (await opened(api, time_env, tenant, "evt-loud", "meeting_booked")).json()
    assert event["sequences_signalled"] == [wf]
    signals = [e async for e in handle.fetch_history_events() if e.HasField(SIGNALLED)]
    assert len(signals) == 1


async def test_patching_a_contacts_status_is_a_status_change(api, time_env, tenant):
    rule = await make_rule(api, tenant, ONBOARDING_RULE)
    resp = await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"status": "active"}, headers=auth(tenant)
    )
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    history = (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()
    assert history["total"] == 1
    again = await api.patch(
        f"/api/contacts/{tenant.contact_id}/", json={"status": "active"}, headers=auth(tenant)
    )
    assert again.status_code == 200  # no change of status: no new event
    history = (await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))).json()
    assert history["total"] == 1
