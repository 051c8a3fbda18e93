"""PUT /api/account/webhook/ refuses every URL that reaches inside this network (422 naming
`url`, the stored webhook untouched) and accepts public ones."""

from collections.abc import AsyncIterator

import httpx
import pytest

from api.embedded import serve_api
from nudge.core.models import Owner
from tests.support import auth
from tests.unit.reminders.test_ssrf import INSIDE, MALFORMED, PUBLIC, _inward_name

WEBHOOK = "/api/account/webhook/"
STORED = "http://93.184.216.34/stored"


@pytest.fixture
async def public_only_api(time_env, time_worker, sessions) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The API as deployed: webhooks to private hosts not allowed (the `api` fixture allows
    them for its local test receivers)."""
    async with serve_api(
        time_env.client, sessions, time_worker.task_queue, allow_private_webhooks=False
    ) as http:
        yield http


def _stored(sessions, owner_id: int) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        owner = session.get(Owner, owner_id)
        return owner.webhook_url, owner.webhook_secret


def _names_url(resp: httpx.Response) -> bool:
    body = resp.json()
    fields = [e["field"] for e in body.get("errors", [])]
    return body["detail"].startswith("url: ") and fields in ([], ["url"])


async def test_inside_and_malformed_targets_are_422_and_change_nothing(
    public_only_api, tenant, sessions
):
    resp = await public_only_api.put(WEBHOOK, json={"url": STORED}, headers=auth(tenant))
    assert resp.status_code == 200
    before = _stored(sessions, tenant.owner_id)
    name, _ = _inward_name()
    refused = [url for url, _ in INSIDE + MALFORMED]
    for url in [*refused, f"http://{name}/hook", f"http://{name}.:8080/hook"]:
        resp = await public_only_api.put(WEBHOOK, json={"url": url}, headers=auth(tenant))
        assert resp.status_code == 422, (url, resp.text)
        assert _names_url(resp), (url, resp.json())
        assert _stored(sessions, tenant.owner_id) == before, url
    account = await public_only_api.get("/api/account/", headers=auth(tenant))
    assert account.json()["webhook_url"] == STORED


async def test_public_targets_are_accepted(public_only_api, tenant, sessions):
    for url in PUBLIC:
        resp = await public_only_api.put(WEBHOOK, json={"url": url}, headers=auth(tenant))
        assert resp.status_code == 200, (url, resp.text)
        assert _stored(sessions, tenant.owner_id) == (url, resp.json()["secret"])


async def test_no_spelling_is_a_500_where_private_targets_are_allowed(api, tenant, sessions):
    """With NUDGE_WEBHOOK_ALLOW_PRIVATE the address check is lifted, but a URL the delivery
    could not send to is still a 422, never an unhandled error."""
    for url in ("http://0177.0.0.1/", "http://①②⑦.0.0.1/", "http://0135.0270.0330.042/"):
        resp = await api.put(WEBHOOK, json={"url": url}, headers=auth(tenant))
        assert resp.status_code == 422 and _names_url(resp), (url, resp.text)
        assert _stored(sessions, tenant.owner_id) == (None, None)
    resp = await api.put(WEBHOOK, json={"url": "http://127.0.0.1:9/hook"}, headers=auth(tenant))
    assert resp.status_code == 200
