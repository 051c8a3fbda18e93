"""Campaign steps over HTTP on the time-skipping server."""

from datetime import datetime, timedelta

from sqlalchemy import select

from nudge.core.models import Enrollment, StepRun
from tests.support import auth, poll

CAMPAIGN = {
    "name": "Trial nurture",
    "steps": [
        {"message_type": "task", "name": "Intro call", "delay_days": 0, "order": 1},
        {"message_type": "email", "name": "Case study", "delay_days": 1, "order": 2},
        {"message_type": "task", "name": "Follow-up call", "delay_days": 3, "order": 3},
    ],
}


async def test_three_contacts_get_two_tasks_each_and_the_email_is_skipped(
    api, time_env, tenant, sessions
):
    headers = auth(tenant)
    ids = [tenant.contact_id]
    for i in range(2):
        r = await api.post("/api/contacts/", json={"external_id": f"cp{i}", "name": f"Camp {i}"},
                           headers=headers)  # fmt: skip
        ids.append(r.json()["id"])
    campaign = await api.post("/api/campaigns/", json=CAMPAIGN, headers=headers)
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["id"]
    enrolled = await api.post(f"/api/campaigns/{cid}/enroll/", json={"contact_ids": ids},
                              headers=headers)  # fmt: skip
    assert enrolled.status_code == 200, enrolled.text
    rows = enrolled.json()["enrollments"]
    assert [r["created"] for r in rows] == [True] * 3
    start = await time_env.get_current_time()
    again = await api.post(f"/api/campaigns/{cid}/enroll/", json={"contact_ids": ids[:1]},
                           headers=headers)  # fmt: skip
    assert again.json()["enrollments"][0] == rows[0] | {"created": False}

    await time_env.sleep(timedelta(days=4, hours=1))

    async def batches() -> list[dict]:
        r = await api.get("/api/task-automation/batches/?limit=100", headers=headers)
        return [b for b in r.json()["items"] if b["kind"] == "campaign"]

    done = await poll(
        batches, lambda bs: len(bs) == 3 and all(b["status"] == "completed" for b in bs)
    )
    assert [(b["planned"], b["created"], b["status"]) for b in done] == [(2, 2, "completed")] * 3
    for contact_id in ids:
        tasks = (await api.get(f"/api/tasks/?contact_id={contact_id}", headers=headers)).json()
        offsets = [round((datetime_of(t) - start) / timedelta(days=1)) for t in tasks["items"]]
        assert offsets == [0, 4], contact_id  # day 0, then 1 (email, skipped) + 3
        assert tasks["items"][0]["title"].startswith("Intro call: ")

    with sessions() as session:
        runs = session.execute(
            select(StepRun.state, StepRun.reason)
            .join(Enrollment, Enrollment.id == StepRun.enrollment_id)
            .where(Enrollment.campaign_id == cid)
        ).all()
    assert sorted(runs) == sorted(
        [("created", None)] * 6 + [("skipped", "email steps are not handled by this service")] * 3
    )


def datetime_of(task: dict) -> datetime:
    return datetime.fromisoformat(task["due_at"])


async def test_a_reply_ends_an_enrollment(api, time_env, tenant):
    headers = auth(tenant)
    cid = (await api.post("/api/campaigns/", json=CAMPAIGN, headers=headers)).json()["id"]
    await api.post(f"/api/campaigns/{cid}/enroll/", json={"contact_ids": [tenant.contact_id]},
                   headers=headers)  # fmt: skip
    await time_env.sleep(timedelta(hours=2))
    now = (await time_env.get_current_time()).isoformat()
    event = await api.post(
        "/api/events/activities/",
        json={"event_id": "camp-reply", "contact_id": tenant.contact_id,
              "activity_type": "email_replied", "occurred_at": now},
        headers=headers,
    )  # fmt: skip
    assert event.json()["sequences_signalled"] == [f"campaign-{cid}-{tenant.contact_id}"]

    async def batch() -> dict:
        r = await api.get("/api/task-automation/batches/", headers=headers)
        return r.json()["items"][0]

    ended = await poll(batch, lambda b: b["status"] == "stopped")
    assert (ended["status"], ended["created"]) == ("stopped", 1)
    await time_env.sleep(timedelta(days=5))
    tasks = (await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=headers)).json()
    assert tasks["total"] == 1


async def test_campaign_input_errors(api, make_tenant):
    me, other = make_tenant(), make_tenant()
    bad = [
        (CAMPAIGN | {"steps": []}, "steps"),
        (CAMPAIGN | {"steps": [CAMPAIGN["steps"][0], CAMPAIGN["steps"][0]]}, "body"),
        (CAMPAIGN | {"steps": [CAMPAIGN["steps"][0] | {"delay_days": -1}]}, "steps.0.delay_days"),
    ]
    for body, field in bad:
        resp = await api.post("/api/campaigns/", json=body, headers=auth(me))
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == field
    cid = (await api.post("/api/campaigns/", json=CAMPAIGN, headers=auth(other))).json()["id"]
    assert (await api.get(f"/api/campaigns/{cid}/", headers=auth(me))).status_code == 404
    resp = await api.post(f"/api/campaigns/{cid}/enroll/", json={"contact_ids": [me.contact_id]},
                          headers=auth(me))  # fmt: skip
    assert resp.status_code == 404
    mine = (await api.post("/api/campaigns/", json=CAMPAIGN, headers=auth(me))).json()["id"]
    resp = await api.post(f"/api/campaigns/{mine}/enroll/",
                          json={"contact_ids": [me.contact_id, other.contact_id]},
                          headers=auth(me))  # fmt: skip
    assert resp.status_code == 404 and "nobody was enrolled" in resp.json()["detail"]
    batches = (await api.get("/api/task-automation/batches/", headers=auth(me))).json()
    assert batches["total"] == 0
