"""A rule end to end over HTTP against the real dev server, in real time."""

import pytest

from tests.e2e.test_rules_time_skipping import EMAIL_OPEN_RULE, RULES
from tests.support import auth, poll

pytestmark = pytest.mark.slow


async def test_rule_fires_within_seconds(dev_api, tenant):
    api, headers = dev_api, auth(tenant)
    rule = (
        await api.post(
            RULES,
            json=EMAIL_OPEN_RULE | {"delay_hours": 0.001, "reminder_offset_hours": None},
            headers=headers,
        )
    ).json()
    resp = await api.post(
        "/api/events/activities/",
        json={"event_id": "dev-1", "contact_external_id": "c-1", "activity_type": "email_opened"},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["firings"][0]["state"] == "scheduled"

    async def tasks() -> dict:
        return (await api.get("/api/tasks/", headers=headers)).json()

    found = await poll(tasks, lambda t: t["total"] == 1, 20)
    assert found["items"][0]["title"] == "Follow up with Ada Lovelace - engaged with email"
    history = (await api.get(f"{RULES}{rule['id']}/firings/", headers=headers)).json()
    assert [(f["state"], f["task_id"]) for f in history["items"]] == [
        ("created", found["items"][0]["id"])
    ]
