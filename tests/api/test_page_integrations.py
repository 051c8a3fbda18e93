"""The integrations page over HTTP: it lists the signed-in owner's CRM connections (inbound
URL, what was received and refused) and task event subscriptions (delivery health, latest
deliveries); its replay button revives the dead deliveries and says how many; another owner
sees none of it and can't replay; and the rule form keeps a by-score priority saved
unchanged."""

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from nudge.core.models import OutboxEvent, WebhookDelivery, utcnow
from nudge.platform.db import transaction
from tests.api.test_integrations_api import connect, deliver
from tests.api.test_page import RULE, signed_in
from tests.api.test_page_sequences import DEFINITIONS, api_step
from tests.support import auth

BASE = "/automations/task-scheduling"
PAGE = f"{BASE}/integrations"
SUBSCRIPTIONS = "/api/webhooks/subscriptions/"
RULES = "/api/task-automation/rules/"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BY_SCORE = {"by_score": [[80, "urgent"], [50, "high"]], "else": "low"}


class FormReader(HTMLParser):
    """What a browser would post for one form: its inputs, checked boxes, textareas and each
    select's chosen option (the first when none is selected), fields outside it that name it
    with form= included."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.select: tuple[str, list[tuple[str, bool]]] | None = None
        self.option: list[Any] | None = None  # [value or None, text, selected]
        self.textarea: list[str] | None = None

    def _ours(self, attrs: dict[str, str | None]) -> bool:
        return self.inside or attrs.get("form") == self.form_id

    def handle_starttag(self, tag: str, pairs: list[tuple[str, str | None]]) -> None:
        attrs = dict(pairs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        elif tag == "input" and self._ours(attrs) and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            value = attrs.get("value")
            self.fields.append((str(attrs["name"]), default if value is None else value))
        elif tag == "textarea" and self._ours(attrs) and attrs.get("name"):
            self.textarea = [str(attrs["name"]), ""]
        elif tag == "select" and self._ours(attrs) and attrs.get("name"):
            self.select = (str(attrs["name"]), [])
        elif tag == "option" and self.select is not None:
            self.option = [attrs.get("value"), "", "selected" in attrs]

    def handle_data(self, data: str) -> None:
        if self.option is not None:
            self.option[1] += data
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea is not None:
            name, text = self.textarea
            self.fields.append((name, text.removeprefix("\n")))
            self.textarea = None
        elif tag == "option" and self.option is not None and self.select is not None:
            value, text, chosen = self.option
            self.select[1].append((text.strip() if value is None else value, chosen))
            self.option = None
        elif tag == "select" and self.select is not None:
            name, options = self.select
            chosen = [v for v, on in options if on] or [v for v, _ in options[:1]]
            self.fields.extend((name, v) for v in chosen)
            self.select = None


def form_of(html: str, form_id: str) -> list[tuple[str, str]]:
    reader = FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"no form {form_id}"
    return reader.fields


async def subscribe(api: httpx.AsyncClient, tenant: Any) -> dict:
    body = {"url": "http://127.0.0.1:9/hooks/nudge", "event_types": ["task.created"]}
    resp = await api.post(SUBSCRIPTIONS, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


def dead_deliveries(
    sessions: Any, tenant: Any, sub_id: int, count: int, *, ago: timedelta, first: int = 900_000
) -> None:
    """`count` events of tasks `first`, `first + 1`, … written `ago`, each dead-lettered
    after its attempts (a replay also revives a task's other dead events: tasks differ)."""
    at = utcnow() - ago
    with transaction(sessions) as session:
        for n in range(count):
            task_id = first + n
            event = OutboxEvent(owner_id=tenant.owner_id, task_id=task_id, type="task.created",
                                payload={"type": "task.created"}, created_at=at)  # fmt: skip
            session.add(event)
            session.flush()
            session.add(
                WebhookDelivery(
                    subscription_id=sub_id, event_id=event.id, owner_id=tenant.owner_id,
                    task_id=task_id, type="task.created", status="dead", attempts=17,
                    last_status_code=503, last_error="receiver answered 503", created_at=at,
                )
            )  # fmt: skip


def statuses(sessions: Any, sub_id: int) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery.status)
                .where(WebhookDelivery.subscription_id == sub_id)
                .order_by(WebhookDelivery.id)
            )
        )


async def test_the_page_lists_connections_and_subscriptions_with_their_counts(
    api, tenant, sessions
):
    connection = await connect(api, tenant, "standard", name="Acme CRM")
    refused = await deliver(api, connection, b'{"type": "x"}', secret="whsec_" + "A" * 32)
    assert refused.status_code == 401, refused.text
    sub = await subscribe(api, tenant)
    dead_deliveries(sessions, tenant, sub["id"], 2, ago=timedelta(days=1))
    async with signed_in(api, tenant) as (browser, _):
        resp = await browser.get(PAGE)
        dashboard = (await browser.get(BASE)).text
    assert resp.status_code == 200, resp.text[:500]
    html = resp.text
    c = connection["id"]
    assert "Acme CRM" in html and ">standard<" in html
    assert f'<input id="inbound-{c}" value="{connection["inbound_url"]}" readonly' in html
    assert f'data-copy="inbound-{c}"' in html
    assert f'id="connection-{c}-received">0<' in html
    assert f'id="connection-{c}-refused">1<' in html
    assert re.search(rf'id="connection-{c}-last-refusal">[^<(]+\(\d{{4}}-\d\d-\d\d ', html)
    s = sub["id"]
    assert "http://127.0.0.1:9/hooks/nudge" in html
    assert f'id="subscription-{s}-events">task.created<' in html
    health = re.search(rf'id="subscription-{s}-health">(.*?)</dd>', html)
    assert health is not None
    assert re.sub(r"<[^>]+>", "", health.group(1)).split() == [
        "0", "delivered", "0", "retrying", "2", "dead", "0", "pending"
    ]  # fmt: skip
    assert html.count("receiver answered 503") == 2 and "HTTP 503" in html
    assert f'action="{PAGE}/subscriptions/{s}/replay"' in html
    assert "curl -X POST" in html and "api/webhooks/subscriptions/" in html
    assert f'href="{PAGE}"' in dashboard
    assert 'id="integrations-subscriptions">1 (2 dead deliveries)<' in dashboard


async def test_replay_revives_the_recent_dead_deliveries_and_says_how_many(api, tenant, sessions):
    sub = await subscribe(api, tenant)
    dead_deliveries(sessions, tenant, sub["id"], 3, ago=timedelta(hours=2))
    dead_deliveries(sessions, tenant, sub["id"], 1, ago=timedelta(days=45), first=900_100)
    replay = f"{PAGE}/subscriptions/{sub['id']}/replay"
    async with signed_in(api, tenant) as (browser, token):
        forged = await browser.post(replay, data={"csrf": ""})
        assert forged.status_code == 403
        assert statuses(sessions, sub["id"]).count("dead") == 4
        resp = await browser.post(replay, data={"csrf": token})
        assert resp.status_code == 303, resp.text[:500]
        assert resp.headers["location"].startswith(f"{PAGE}?replayed=3")
        shown = await browser.get(resp.headers["location"])
        again = await browser.post(replay, data={"csrf": token})
        nothing = await browser.get(again.headers["location"])
    assert "3 deliveries will be sent again." in shown.text
    assert "nothing to send again" in nothing.text
    after = statuses(sessions, sub["id"])
    assert after.count("dead") == 1  # the one older than 30 days stays dead
    assert len(after) == 4


async def test_another_owner_sees_none_of_it_and_cannot_replay(api, make_tenant, sessions):
    me, other = make_tenant(), make_tenant("Zed Secretname")
    connection = await connect(api, me, "hubspot", name="My secret HubSpot")
    sub = await subscribe(api, me)
    dead_deliveries(sessions, me, sub["id"], 1, ago=timedelta(hours=1))
    async with signed_in(api, other) as (browser, token):
        page = await browser.get(PAGE)
        replay = await browser.post(
            f"{PAGE}/subscriptions/{sub['id']}/replay", data={"csrf": token}
        )
        dashboard = (await browser.get(BASE)).text
    assert page.status_code == 200
    assert "My secret HubSpot" not in page.text and connection["inbound_url"] not in page.text
    assert "127.0.0.1:9" not in page.text
    assert 'id="no-connections"' in page.text and 'id="no-subscriptions"' in page.text
    assert replay.status_code == 404
    assert statuses(sessions, sub["id"]) == ["dead"]
    assert 'id="integrations-connections">0<' in dashboard


async def test_a_by_score_rule_saved_unchanged_through_the_form_keeps_it(api, tenant):
    made = await api.post(RULES, json={**RULE, "task_priority": BY_SCORE}, headers=auth(tenant))
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    async with signed_in(api, tenant) as (browser, _):
        edit = await browser.get(f"{BASE}/rules/{rule_id}/edit")
        assert edit.status_code == 200
        assert re.search(r'<option selected value="[^"]+">by score \(', edit.text)
        fields = form_of(edit.text, "rule-form")
        assert ("task_priority", json.dumps(BY_SCORE)) in fields
        saved = await browser.post(f"{BASE}/rules/{rule_id}", content=urlencode(fields),
                                   headers=FORM)  # fmt: skip
        assert saved.status_code == 303, saved.text[:800]
    resp = await api.get(f"{RULES}{rule_id}/", headers=auth(tenant))
    assert resp.json()["task_priority"] == BY_SCORE


async def test_a_by_score_step_saved_unchanged_through_the_editor_keeps_it(api, tenant):
    steps = [api_step("a", "call", 1) | {"priority": BY_SCORE}, api_step("b", "email", 2)]
    made = await api.post(DEFINITIONS, json={"name": "Scored", "steps": steps},
                          headers=auth(tenant))  # fmt: skip
    assert made.status_code == 201, made.text
    did = made.json()["id"]
    async with signed_in(api, tenant) as (browser, _):
        edit = await browser.get(f"{BASE}/sequences/{did}/edit")
        assert edit.status_code == 200
        fields = form_of(edit.text, "definition-form")
        assert ("steps-0-priority", json.dumps(BY_SCORE)) in fields
        assert ("steps-1-priority", "medium") in fields
        saved = await browser.post(f"{BASE}/sequences/{did}", content=urlencode(fields),
                                   headers=FORM)  # fmt: skip
        assert saved.status_code == 303, saved.text[:800]
        assert "version=1" in saved.headers["location"]  # nothing changed
    live = (await api.get(f"{DEFINITIONS}{did}/", headers=auth(tenant))).json()
    assert live["steps"][0]["priority"] == BY_SCORE
    assert live["steps"] == made.json()["steps"]
