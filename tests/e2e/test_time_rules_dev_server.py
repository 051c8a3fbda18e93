"""Time-based rules own a Temporal Schedule each (real dev server, real time)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.service import RPCError

from nudge.core.ids import rule_schedule_id
from tests.e2e.test_rules_time_skipping import RULES
from tests.support import auth, poll

pytestmark = pytest.mark.slow


async def test_an_at_rule_makes_one_task_per_matching_lead(dev_api, dev_env, tenant):
    api, headers = dev_api, auth(tenant)
    for i, status in enumerate(["lead", "lead", "active"]):
        await api.post(
            "/api/contacts/",
            json={"external_id": f"t{i}", "name": f"Time {i}", "status": status},
            headers=headers,
        )
    at = datetime.now(UTC) + timedelta(seconds=4)
    resp = await api.post(
        RULES,
        json={
            "name": "Monday call list",
            "trigger_type": "time",
            "trigger_config": {"at": at.isoformat(), "contact_filter": {"status": "lead"}},
            "task_title_template": "Call {{contact_name}}",
            "task_priority": "high",
        },
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    rule = resp.json()

    async def titles() -> list[str]:
        items = (await api.get("/api/tasks/?limit=100", headers=headers)).json()["items"]
        return sorted(t["title"] for t in items)

    # The tenant's own contact (Ada) is a lead too: three leads, one active.
    expected = ["Call Ada Lovelace", "Call Time 0", "Call Time 1"]
    assert await poll(titles, lambda t: t == expected, 40) == expected
    await asyncio.sleep(3)
    assert await titles() == expected  # ran once
    counted = (await api.get(f"{RULES}{rule['id']}/", headers=headers)).json()
    assert counted["tasks_created"] == 3

    handle = dev_env.client.get_schedule_handle(rule_schedule_id(rule["id"]))
    await api.patch(f"{RULES}{rule['id']}/", json={"is_active": False}, headers=headers)
    assert (await handle.describe()).schedule.state.paused is True
    await api.patch(f"{RULES}{rule['id']}/", json={"is_active": True}, headers=headers)
    assert (await handle.describe()).schedule.state.paused is False
    assert (await api.delete(f"{RULES}{rule['id']}/", headers=headers)).status_code == 204
    with pytest.raises(RPCError):
        await handle.describe()


async def test_a_cron_rule_schedule_follows_the_rule(dev_api, dev_env, tenant):
    api, headers = dev_api, auth(tenant)
    body = {
        "name": "Weekly leads",
        "trigger_type": "time",
        "trigger_config": {"cron": "0 9 * * MON", "timezone": "Europe/Berlin"},
        "task_title_template": "Call {{contact_name}}",
    }
    rule = (await api.post(RULES, json=body, headers=headers)).json()
    handle = dev_env.client.get_schedule_handle(rule_schedule_id(rule["id"]))
    desc = await handle.describe()
    assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
    assert [r.start for c in desc.schedule.spec.calendars for r in c.hour] == [9]
    # Turning it into an activity rule removes its schedule.
    changed = await api.patch(
        f"{RULES}{rule['id']}/",
        json={"trigger_type": "activity", "trigger_config": {"activity_types": ["*"]}},
        headers=headers,
    )
    assert changed.status_code == 200
    with pytest.raises(RPCError):
        await handle.describe()
