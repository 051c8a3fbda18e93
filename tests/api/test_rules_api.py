"""Rules over HTTP: validation that names the fix, preview, PATCH/PUT, owner isolation."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_rules_time_skipping import EMAIL_OPEN_RULE, ONBOARDING_RULE, RULES
from tests.support import auth
from tests.unit.core.test_templating import ESCAPES


async def test_create_read_update_list(api, tenant):
    headers = auth(tenant)
    created = await api.post(RULES, json=EMAIL_OPEN_RULE | {"is_active": False}, headers=headers)
    assert created.status_code == 201
    rule = created.json()
    assert (rule["is_active"], rule["times_triggered"], rule["tasks_created"]) == (False, 0, 0)
    url = f"{RULES}{rule['id']}/"
    patched = await api.patch(url, json={"is_active": True, "delay_hours": 0.5}, headers=headers)
    assert (patched.json()["is_active"], patched.json()["delay_hours"]) == (True, 0.5)
    put = await api.put(url, json=ONBOARDING_RULE, headers=headers)
    assert put.json()["trigger_type"] == "status_change"
    listed = (await api.get(RULES, headers=headers)).json()
    assert [r["id"] for r in listed["items"]] == [rule["id"]]


@pytest.mark.parametrize("payload", ESCAPES)
async def test_sandbox_escapes_are_refused_at_creation(api, tenant, payload):
    for field in ("task_title_template", "task_description_template"):
        resp = await api.post(RULES, json=EMAIL_OPEN_RULE | {field: payload}, headers=auth(tenant))
        assert resp.status_code == 422, (field, payload)
        assert resp.json()["errors"][0]["field"] == field
    assert (await api.get(RULES, headers=auth(tenant))).json()["total"] == 0


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"task_title_template": "Hi {% if contact_name %}"}, "task_title_template", ["line 1"]),
        ({"task_title_template": "Hi {{ first_name }}"}, "task_title_template",
         ["first_name", "allowed: contact_name, contact_email"]),
        ({"trigger_type": "sometimes"}, "trigger_type", ["activity", "status_change"]),
        ({"trigger_config": {"activity_types": ["email_licked"]}}, "body",
         ["email_opened", "email_licked"]),
        ({"trigger_config": {"activity_types": []}}, "body", ["non-empty list"]),
        ({"trigger_config": {"colour": "red"}}, "body", ["unknown key colour"]),
        ({"delay_hours": -1}, "delay_hours", ["greater than or equal to 0"]),
        ({"reminder_offset_hours": "soon"}, "reminder_offset_hours", ["valid number"]),
        ({"task_priority": "asap"}, "task_priority", ["urgent"]),
        ({"task_title_template": "x" * 2001}, "task_title_template", ["limit is 2000"]),
        ({"trigger_type": "time", "trigger_config": {"cron": "99 9 * * *"}}, "body",
         ["minute 99 is outside 0-59"]),
        ({"trigger_type": "time", "trigger_config": {"cron": "0 9 * *"}}, "body", ["five fields"]),
        ({"trigger_type": "time", "trigger_config": {"cron": "0 9 * * *", "timezone": "Mars"}},
         "body", ["unknown timezone"]),
        ({"trigger_type": "overdue", "trigger_config": {"grace_hours": 1e300}}, "body",
         ["0 to 8760"]),
    ],
)  # fmt: skip
async def test_invalid_rules_are_422_naming_the_fix(api, tenant, change, field, words):
    resp = await api.post(RULES, json=EMAIL_OPEN_RULE | change, headers=auth(tenant))
    assert resp.status_code == 422
    body = resp.json()
    assert body["errors"][0]["field"] == field
    for word in words:
        assert word in body["detail"], body["detail"]
    assert (await api.get(RULES, headers=auth(tenant))).json()["total"] == 0


async def test_a_bad_patch_changes_nothing(api, tenant):
    rule = (await api.post(RULES, json=EMAIL_OPEN_RULE, headers=auth(tenant))).json()
    url = f"{RULES}{rule['id']}/"
    resp = await api.patch(url, json={"task_title_template": "{{ nope }}"}, headers=auth(tenant))
    assert resp.status_code == 422
    assert (await api.get(url, headers=auth(tenant))).json() == rule


async def test_preview_shows_the_exact_task_and_writes_nothing(api, tenant, make_tenant):
    headers = auth(tenant)
    rule = (await api.post(RULES, json=EMAIL_OPEN_RULE, headers=headers)).json()
    url = f"{RULES}{rule['id']}/preview/"
    resp = await api.post(
        url,
        json={"contact_id": tenant.contact_id, "event": {"activity_type": "email_opened"}},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    preview = resp.json()
    assert preview["title"] == "Follow up with Ada Lovelace - engaged with email"
    assert preview["description"] == "Ada Lovelace opened your email - strike while hot!"
    assert preview["priority"] == "high"
    due, remind = (datetime.fromisoformat(preview[k]) for k in ("due_at", "reminder_at"))
    assert due - remind == timedelta(hours=1)
    assert (await api.get("/api/tasks/", headers=headers)).json()["total"] == 0
    assert (await api.get(f"{RULES}{rule['id']}/firings/", headers=headers)).json()["total"] == 0

    missing = await api.post(
        url,
        json={"contact_id": tenant.contact_id},
        headers=headers,
    )
    assert missing.status_code == 200  # the templates use no event variable
    bad = (
        await api.post(
            RULES,
            json=EMAIL_OPEN_RULE | {"task_title_template": "{{ activity_type }}"},
            headers=headers,
        )
    ).json()
    resp = await api.post(
        f"{RULES}{bad['id']}/preview/", json={"contact_id": tenant.contact_id}, headers=headers
    )
    assert resp.status_code == 422 and "activity_type" in resp.json()["detail"]
    other = make_tenant()
    resp = await api.post(url, json={"contact_id": other.contact_id}, headers=headers)
    assert resp.status_code == 404


async def test_other_owners_rules_are_invisible(api, make_tenant):
    me, other = make_tenant(), make_tenant()
    rule = (await api.post(RULES, json=EMAIL_OPEN_RULE, headers=auth(other))).json()
    url = f"{RULES}{rule['id']}/"
    assert (await api.get(url, headers=auth(me))).status_code == 404
    assert (await api.patch(url, json={"is_active": False}, headers=auth(me))).status_code == 404
    assert (await api.put(url, json=EMAIL_OPEN_RULE, headers=auth(me))).status_code == 404
    assert (await api.delete(url, headers=auth(me))).status_code == 404
    assert (await api.get(url + "firings/", headers=auth(me))).status_code == 404
    assert (await api.get(RULES, headers=auth(me))).json()["total"] == 0
    assert (await api.get(url, headers=auth(other))).json()["is_active"] is True
    # An event on my contact never fires another owner's rule.
    resp = await api.post(
        "/api/events/activities/",
        json={"event_id": "e1", "contact_id": me.contact_id, "activity_type": "email_opened"},
        headers=auth(me),
    )
    assert resp.status_code == 201 and resp.json()["firings"] == []
    resp = await api.post(
        "/api/events/activities/",
        json={"event_id": "e2", "contact_id": other.contact_id, "activity_type": "email_opened"},
        headers=auth(me),
    )
    assert resp.status_code == 404


async def test_event_input_errors(api, tenant):
    base = {"event_id": "x", "activity_type": "email_opened"}
    for body, words in [
        (base, "exactly one of contact_id or contact_external_id"),
        (base | {"contact_id": tenant.contact_id, "contact_external_id": "c-1"}, "exactly one"),
        (base | {"contact_id": tenant.contact_id, "activity_type": "fax"}, "email_opened"),
        (base | {"contact_external_id": "nobody"}, "contact 'nobody' not found"),
    ]:
        resp = await api.post("/api/events/activities/", json=body, headers=auth(tenant))
        assert resp.status_code in (404, 422), body
        assert words in resp.json()["detail"], resp.json()


async def test_a_past_at_is_refused_when_given(api, tenant):
    body = EMAIL_OPEN_RULE | {"trigger_type": "time",
                              "trigger_config": {"at": "2020-01-01T00:00:00+00:00"}}  # fmt: skip
    resp = await api.post(RULES, json=body, headers=auth(tenant))
    assert resp.status_code == 422 and "in the past" in resp.json()["detail"]


async def test_a_cron_that_never_fires_is_422(api, tenant):
    for cron in ("0 9 31 2 *", "0 9 30 2 *"):
        body = EMAIL_OPEN_RULE | {"trigger_type": "time", "trigger_config": {"cron": cron}}
        resp = await api.post(RULES, json=body, headers=auth(tenant))
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "body"
        assert "never" in resp.json()["detail"], resp.json()
    assert (await api.get(RULES, headers=auth(tenant))).json()["total"] == 0


async def test_preview_of_a_time_rule_lists_its_next_runs(api, tenant):
    headers = auth(tenant)
    weekly = EMAIL_OPEN_RULE | {"trigger_type": "time",
                                "trigger_config": {"cron": "0 9 * * MON",
                                                   "timezone": "Europe/Berlin"}}  # fmt: skip
    before = datetime.now(UTC)
    resp = await api.post(
        f"{RULES}preview/", json={"rule": weekly, "contact_id": tenant.contact_id}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    texts = resp.json()["next_runs"]
    assert len(texts) == 5 and all(t.endswith("+00:00") for t in texts), texts
    runs = [datetime.fromisoformat(t) for t in texts]
    assert before < runs[0] <= before + timedelta(days=7)
    week, hour = timedelta(days=7), timedelta(hours=1)  # a week, give or take a DST change
    assert {b - a for a, b in pairwise(runs)} <= {week, week - hour, week + hour}, runs
    berlin = [run.astimezone(ZoneInfo("Europe/Berlin")) for run in runs]
    assert all((b.weekday(), b.hour, b.minute) == (0, 9, 0) for b in berlin), berlin

    at = (before + timedelta(days=3)).replace(microsecond=0)
    once = weekly | {"trigger_config": {"at": at.isoformat()}}
    resp = await api.post(
        f"{RULES}preview/", json={"rule": once, "contact_id": tenant.contact_id}, headers=headers
    )
    assert resp.status_code == 200 and resp.json()["next_runs"] == [at.isoformat()], resp.text

    resp = await api.post(
        f"{RULES}preview/",
        json={"rule": EMAIL_OPEN_RULE, "contact_id": tenant.contact_id},
        headers=headers,
    )
    assert resp.status_code == 200 and resp.json()["next_runs"] is None


async def test_openapi_documents_every_trigger_config(api):
    doc = (await api.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    field = schemas["RuleIn"]["properties"]["trigger_config"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in field["anyOf"]}
    assert names == {
        "ActivityConfig", "StatusChangeConfig", "CadenceConfig", "TimeConfig", "OverdueConfig",
    }  # fmt: skip
    assert "trigger_type" in field["description"]
    for name in names:
        assert schemas[name]["description"], name
    assert set(schemas["TimeConfig"]["properties"]) == {"cron", "at", "timezone", "contact_filter"}
    assert "next_runs" in schemas["PreviewOut"]["properties"]
