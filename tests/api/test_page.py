"""The web page over HTTP: signing in, CSRF, forms that change nothing when wrong, and another
owner's rules, batches and sequences never shown nor reachable through its forms."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from nudge.core.models import CrmEvent, Rule, RuleFiring, TaskBatch
from nudge.platform.db import transaction
from tests.support import auth

BASE = "/automations/task-scheduling"
RULE = {
    "name": "Email Open Follow-up",
    "trigger_type": "activity",
    "trigger_config": {"activity_types": ["email_opened"]},
    "task_title_template": "Follow up with {{contact_name}}",
}


@asynccontextmanager
async def signed_in(api: httpx.AsyncClient, tenant) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:  # type: ignore[no-untyped-def]
    """A browser-like client (own cookie jar) signed in as `tenant`, and its CSRF token."""
    async with browser_for(api) as browser:
        resp = await browser.post(f"{BASE}/sign-in", data={"api_key": tenant.api_key})
        assert resp.status_code == 303, resp.text
        page = await browser.get(BASE)
        assert page.status_code == 200
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert token is not None
        yield browser, token.group(1)


def browser_for(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client that, like a browser, names the page's origin on every POST."""
    origin = str(api.base_url).rstrip("/")
    return httpx.AsyncClient(base_url=api.base_url, timeout=30, headers={"Origin": origin})


@pytest.fixture
async def two_owners(api, make_tenant, sessions):  # type: ignore[no-untyped-def]
    """Me, and another owner with a rule, a running sequence batch and a campaign batch."""
    me, other = make_tenant(), make_tenant("Zed Secretname")
    theirs = await api.post(
        "/api/task-automation/rules/",
        json={**RULE, "name": "Their secret rule"},
        headers=auth(other),
    )
    assert theirs.status_code == 201
    workflow = f"sequence-{other.owner_id}-{other.contact_id}-standard"
    with transaction(sessions) as s:
        for kind, name in [("sequence", "Their secret sequence"), ("campaign", "Their campaign")]:
            s.add(TaskBatch(owner_id=other.owner_id, kind=kind, name=name, planned=4,
                            contact_id=other.contact_id, workflow_id=workflow))  # fmt: skip
    async with signed_in(api, me) as (browser, token):
        yield me, other, theirs.json()["id"], browser, token


async def test_sign_in_cookie_and_redirects(api, tenant):
    async with browser_for(api) as browser:
        resp = await browser.get(BASE + "?kind=sequence")
        assert resp.status_code == 303
        assert (
            resp.headers["location"]
            == f"{BASE}/sign-in?next=%2Fautomations%2Ftask-scheduling%3Fkind%3Dsequence"
        )
        htmx = await browser.post(f"{BASE}/rules/preview", headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"].startswith(f"{BASE}/sign-in")

        forged = await browser.post(
            f"{BASE}/sign-in",
            data={"api_key": tenant.api_key},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403 and "nudge_session" not in browser.cookies
        sandboxed = await browser.post(  # a sandboxed frame or data: page says "null"
            f"{BASE}/sign-in", data={"api_key": tenant.api_key}, headers={"Origin": "null"}
        )
        assert sandboxed.status_code == 403 and "nudge_session" not in browser.cookies
        long_next = await browser.get(f"{BASE}/sign-in", params={"next": BASE + "x" * 5000})
        assert long_next.status_code == 200  # an overlong `next` is dropped, not an error
        bad = await browser.post(f"{BASE}/sign-in", data={"api_key": "nk_wrong"})
        assert bad.status_code == 401
        assert "not valid" in bad.text and "nudge create-owner" in bad.text
        assert "nudge_session" not in browser.cookies

        ok = await browser.post(
            f"{BASE}/sign-in", data={"api_key": tenant.api_key, "next": "https://evil.example/"}
        )
        assert ok.status_code == 303
        assert ok.headers["location"].startswith(BASE)  # never off-site
        cookie = ok.headers["set-cookie"].lower()
        for flag in ("httponly", "samesite=strict", "path=/automations"):
            assert flag in cookie
        back = await browser.post(
            f"{BASE}/sign-in", data={"api_key": tenant.api_key, "next": f"{BASE}/rules/new"}
        )
        assert back.headers["location"] == f"{BASE}/rules/new"


async def test_forms_need_the_csrf_token(api, tenant, make_tenant, sessions):
    async with (
        signed_in(api, make_tenant()) as (_, someone_else),
        signed_in(api, tenant) as (
            browser,
            token,
        ),
    ):
        for data in [{"csrf": ""}, {"csrf": someone_else}, {}]:
            form = {**data, "name": "Sneaky", "trigger_type": "activity",
                    "activity_types": "email_opened", "task_title_template": "x",
                    "task_priority": "medium"}  # fmt: skip
            resp = await browser.post(f"{BASE}/rules", data=form)
            assert resp.status_code == 403
            assert "Reload the page" in resp.text
        out = await browser.post(f"{BASE}/sign-out", data={"csrf": "nope"})
        assert out.status_code == 403
        elsewhere = await browser.post(
            f"{BASE}/sign-out", data={"csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403  # the right token, from another site's page
        with sessions() as s:
            assert not s.scalar(select(func.count()).where(Rule.owner_id == tenant.owner_id))
        out = await browser.post(f"{BASE}/sign-out", data={"csrf": token})
        assert out.status_code == 303
        assert (await browser.get(BASE)).status_code == 303  # signed out: back to the form


async def test_a_bad_form_shows_errors_and_writes_nothing(api, tenant, sessions):
    form = {"name": "", "trigger_type": "activity", "task_priority": "medium",
            "task_title_template": "Call {{ contact_nme }}", "delay_hours": "soon",
            "reminder_offset_hours": "-1"}  # fmt: skip
    async with signed_in(api, tenant) as (browser, token):
        resp = await browser.post(f"{BASE}/rules", data={**form, "csrf": token})
    assert resp.status_code == 422
    html = resp.text
    assert 'id="task_title_template-error"' in html and "contact_nme" in html
    assert 'id="trigger_config-error"' in html and "activity_types" in html  # none ticked
    with sessions() as s:
        assert not s.scalar(select(func.count()).where(Rule.owner_id == tenant.owner_id))
    # The values typed come back, escaped.
    assert 'value="Call {{ contact_nme }}"' in html


async def test_draft_preview_endpoint(api, tenant):
    resp = await api.post(
        "/api/task-automation/rules/preview/",
        json={"rule": {**RULE, "delay_hours": 4, "reminder_offset_hours": 1},
              "contact_id": tenant.contact_id, "event": {"activity_type": "email_opened"}},
        headers=auth(tenant),
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["title"] == f"Follow up with {tenant.contact_name}"
    due, reminder = (datetime.fromisoformat(body[k]) for k in ("due_at", "reminder_at"))
    assert (due - reminder).total_seconds() == 3600
    assert abs((due - datetime.now(UTC)).total_seconds() - 4 * 3600) < 60
    bad = await api.post(
        "/api/task-automation/rules/preview/",
        json={
            "rule": {**RULE, "task_title_template": "{{ nope }}"},
            "contact_id": tenant.contact_id,
        },
        headers=auth(tenant),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rule.task_title_template"


async def test_another_owners_data_never_shows(api, two_owners, sessions):
    me, _, their_rule, browser, _ = two_owners
    mine = await api.post(
        "/api/task-automation/rules/", json={**RULE, "name": "My own rule"}, headers=auth(me)
    )
    assert mine.status_code == 201
    page = (await browser.get(BASE)).text
    assert "My own rule" in page  # the page does show rules: just not theirs
    firings = await browser.get(f"{BASE}/rules/{their_rule}/firings")
    for secret in ("Their secret rule", "Their secret sequence", "Their campaign", "Zed"):
        assert secret not in page
    assert (await browser.get(f"{BASE}?kind=campaign")).text.count("Their campaign") == 0
    assert firings.status_code == 404
    for path in (f"/rules/{their_rule}/edit", f"/rules/{their_rule}/delete"):
        resp = await browser.get(BASE + path)
        assert resp.status_code == 404, path
        assert "Their secret rule" not in resp.text


async def test_another_owners_data_never_changes_through_the_forms(api, two_owners, sessions):
    _, other, their_rule, browser, token = two_owners
    workflow = f"sequence-{other.owner_id}-{other.contact_id}-standard"
    posts = [
        (f"/rules/{their_rule}/active", {"active": "false"}),
        (f"/rules/{their_rule}/delete", {}),
        (f"/rules/{their_rule}", {"name": "Mine now", "trigger_type": "activity",
                                  "activity_types": "email_opened", "task_priority": "low",
                                  "task_title_template": "x"}),
        (f"/sequences/{workflow}/cancel", {}),
        (f"/sequences/{workflow}/pause", {}),
    ]  # fmt: skip
    for path, data in posts:
        resp = await browser.post(BASE + path, data={"csrf": token, **data})
        assert resp.status_code == 404, (path, resp.status_code, resp.text[:200])
    preview = await browser.post(
        f"{BASE}/rules/preview",
        data={"csrf": token, "name": "p", "trigger_type": "activity",
              "activity_types": "email_opened", "task_priority": "low",
              "task_title_template": "Hi {{contact_name}}", "contact_id": str(other.contact_id)},
    )  # fmt: skip
    assert f"contact {other.contact_id} not found" in preview.text
    assert "Zed" not in preview.text
    with sessions() as s:
        rule = s.get(Rule, their_rule)
        assert rule is not None and rule.is_active and rule.name == "Their secret rule"
        states = s.scalars(select(TaskBatch.status).where(TaskBatch.owner_id == other.owner_id))
        assert set(states) == {"running"}
    theirs = await api.get(f"/api/task-automation/rules/{their_rule}/", headers=auth(other))
    assert theirs.json()["is_active"] is True


async def test_double_clicked_toggle_is_harmless(api, tenant, sessions):
    created = await api.post("/api/task-automation/rules/", json=RULE, headers=auth(tenant))
    rule_id = created.json()["id"]
    async with signed_in(api, tenant) as (browser, token):
        for _ in range(2):  # the button carries the state wanted, not "flip"
            resp = await browser.post(
                f"{BASE}/rules/{rule_id}/active", data={"csrf": token, "active": "false"}
            )
            assert resp.status_code == 303
    with sessions() as s:
        assert s.get(Rule, rule_id).is_active is False  # type: ignore[union-attr]


async def test_firing_history_page(api, tenant, sessions):
    created = await api.post("/api/task-automation/rules/", json=RULE, headers=auth(tenant))
    rule_id = created.json()["id"]
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        for i, (state, reason) in enumerate(
            [("created", None), ("skipped", "rule inactive"), ("scheduled", None)]
        ):
            event = CrmEvent(owner_id=tenant.owner_id, event_id=f"crm-ev-{i}", kind="activity",
                             occurred_at=now)  # fmt: skip
            s.add(event)
            s.flush()
            s.add(RuleFiring(owner_id=tenant.owner_id, rule_id=rule_id, event_row_id=event.id,
                             contact_id=tenant.contact_id, workflow_id=f"rule-{rule_id}-{event.id}",
                             create_at=now, due_at=now, state=state, reason=reason))  # fmt: skip
    async with signed_in(api, tenant) as (browser, _):
        page = await browser.get(f"{BASE}/rules/{rule_id}/firings")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="firing">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 3
    assert "crm-ev-2" in rows[0] and "scheduled" in rows[0]  # newest first
    assert "crm-ev-1" in rows[1] and "skipped" in rows[1] and "rule inactive" in rows[1]
    assert "crm-ev-0" in rows[2] and "created" in rows[2]
    assert tenant.contact_name in rows[0]


async def test_odd_preview_contacts_and_a_past_time_inline(api, tenant):
    async with signed_in(api, tenant) as (browser, token):
        form = {"csrf": token, "name": "p", "trigger_type": "activity",
                "activity_types": "email_opened", "task_priority": "low",
                "task_title_template": "Hi {{contact_name}}"}  # fmt: skip
        for contact in ["\u00b2", "9" * 30, "0", "-1", ""]:
            resp = await browser.post(f"{BASE}/rules/preview", data={**form, "contact_id": contact})
            assert resp.status_code == 200, contact
            assert "choose a contact" in resp.text
        past = {**form, "trigger_type": "time", "at": "2020-01-01T09:00", "timezone": "UTC"}
        resp = await browser.post(f"{BASE}/rules", data=past)
    assert resp.status_code == 422
    assert 'id="trigger_config-error"' in resp.text and "in the past" in resp.text
    assert 'value="2020-01-01T09:00"' in resp.text  # the form comes back as typed


async def test_preview_of_a_cron_rule_lists_its_next_runs(api, tenant):
    async with signed_in(api, tenant) as (browser, token):
        form = {"csrf": token, "name": "Monday calls", "trigger_type": "time",
                "cron": "0 9 * * MON", "timezone": "Europe/Berlin", "task_priority": "low",
                "task_title_template": "Call {{contact_name}}",
                "contact_id": str(tenant.contact_id)}  # fmt: skip
        resp = await browser.post(f"{BASE}/rules/preview", data=form)
        activity = {**form, "trigger_type": "activity", "activity_types": "email_opened"}
        other = await browser.post(f"{BASE}/rules/preview", data=activity)
    assert resp.status_code == 200, resp.text
    runs = re.search(r'id="preview-next-runs">(.*?)</dd>', resp.text, re.S)
    assert runs is not None and runs.group(1).count("<br>") == 4  # five runs
    assert 'id="preview-next-runs"' not in other.text  # only time rules have runs


# Open one minute a week: a placed due time always moves, so a preview always says why.
ONE_MINUTE_A_WEEK = {"timezone": "Europe/Berlin", "working_hours": {"sun": [["03:00", "03:01"]]}}


async def test_rule_form_saves_placement_and_business_days(api, tenant):
    put = await api.put("/api/account/calendar/", json=ONE_MINUTE_A_WEEK, headers=auth(tenant))
    assert put.status_code == 200, put.text
    form = {"name": "Placed follow-up", "trigger_type": "activity",
            "activity_types": "email_opened", "task_priority": "medium",
            "task_title_template": "Call {{contact_name}}", "delay_hours": "0",
            "delay_business_days": "3", "placement": "working_hours"}  # fmt: skip
    async with signed_in(api, tenant) as (browser, token):
        new = await browser.get(f"{BASE}/rules/new")
        assert re.search(r'<option value="anytime" selected>', new.text)
        assert 'name="delay_business_days" inputmode="numeric" value=""' in new.text
        assert "replace the delay in hours" in new.text
        bad = await browser.post(
            f"{BASE}/rules",
            data={**form, "csrf": token, "delay_business_days": "2.5", "placement": "someday"},
        )
        preview = await browser.post(
            f"{BASE}/rules/preview",
            data={**form, "csrf": token, "contact_id": str(tenant.contact_id)},
        )
        created = await browser.post(f"{BASE}/rules", data={**form, "csrf": token})
        assert created.status_code == 303, created.text[:800]
        rule_id = re.search(r"rule=(\d+)", created.headers["location"])
        assert rule_id is not None
        edit = await browser.get(f"{BASE}/rules/{rule_id.group(1)}/edit")
        dashboard = await browser.get(BASE)
    assert bad.status_code == 422
    assert 'id="delay_business_days-error"' in bad.text and "integer" in bad.text
    assert 'id="placement-error"' in bad.text
    assert 'value="2.5"' in bad.text  # as typed
    assert preview.status_code == 200, preview.text
    local = re.search(r'id="preview-due-local">([^<]*)<', preview.text)
    assert local is not None and local.group(1).startswith("Sun ")
    assert local.group(1).endswith("03:00 Europe/Berlin")
    assert 'id="preview-placement">' in preview.text  # why it moved
    saved = await api.get(f"/api/task-automation/rules/{rule_id.group(1)}/", headers=auth(tenant))
    assert saved.json()["placement"] == "working_hours"
    assert saved.json()["delay_business_days"] == 3
    assert re.search(r'<option value="working_hours" selected>', edit.text)
    assert 'name="delay_business_days" inputmode="numeric" value="3"' in edit.text
    row = re.search(rf'<tr id="rule-{rule_id.group(1)}".*?</tr>', dashboard.text, re.S)
    assert row is not None and "3 business days" in row.group(0)
