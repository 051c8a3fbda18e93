"""The web page's defences over real HTTP: security headers and no inline code, a server-side
session that signing out kills, POSTs only from the page's own origin, and failed keys (the
page's sign-in and the API's Bearer) limited per client address."""

import hashlib
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from api.ratelimit import MAX_CLIENTS, FailureLimiter
from nudge.core.models import WebSession, utcnow
from nudge.platform.db import transaction
from tests.api.test_page import BASE, browser_for, signed_in
from tests.support import auth


def _origin(api: httpx.AsyncClient) -> str:
    return str(api.base_url).rstrip("/")


def _session_cookie(resp: httpx.Response) -> str:
    match = re.search(r"nudge_session=([^;]+)", resp.headers["set-cookie"])
    assert match is not None, resp.headers["set-cookie"]
    return match.group(1)


async def test_page_answers_carry_the_security_headers(api, tenant, sessions):
    started = await api.post(  # a running sequence: its row has a cancel form
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard"},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    async with signed_in(api, tenant) as (browser, _):
        pages = [await browser.get(BASE + path) for path in ("", "/rules/new", "/sign-in")]
        pages.append(await browser.get(f"{BASE}/rules/999999/edit"))  # the error page
        static = await browser.get(f"{BASE}/static/vendor/htmx.min.js")
    assert [p.status_code for p in pages] == [200, 200, 200, 404]
    assert "data-confirm=" in pages[0].text  # the sequence's cancel form is on the page
    for resp in [*pages, static]:
        csp = resp.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
        assert directives["default-src"] == ["'self'"]
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "unsafe" not in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"
        assert resp.headers["x-frame-options"] == "DENY"
    assert static.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    for page in pages:
        html = page.text
        # Nothing the CSP would block: no inline script, handler or style; scripts are ours.
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], page.url
        assert re.findall(r"\son[a-z]+\s*=", html) == [], page.url
        assert "style=" not in html and "<style" not in html, page.url
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html):
            assert src.startswith(f"{BASE}/static/"), src


async def test_api_answers_say_nosniff_without_the_page_policy(api, tenant):
    resp = await api.get("/api/account/", headers=auth(tenant))
    assert resp.status_code == 200
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in resp.headers


async def test_the_cookie_is_a_session_that_signing_out_ends(api, tenant, sessions):
    async with browser_for(api) as browser:
        signed = await browser.post(f"{BASE}/sign-in", data={"api_key": tenant.api_key})
        assert signed.status_code == 303
        cookie = _session_cookie(signed)
        assert tenant.api_key not in cookie and tenant.api_key.removeprefix("nk_") not in cookie
        assert "nudge_key" not in browser.cookies
        with sessions() as s:
            row = s.scalar(select(WebSession).where(WebSession.owner_id == tenant.owner_id))
            assert row is not None
            assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest()  # only a hash
            assert timedelta(days=6) < row.expires_at - row.created_at <= timedelta(days=7)
        # The cookie copied elsewhere works while the session lives...
        async with httpx.AsyncClient(
            base_url=api.base_url, cookies={"nudge_session": cookie}
        ) as copy:
            assert (await copy.get(BASE)).status_code == 200
            page = await browser.get(BASE)
            token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
            assert token is not None
            out = await browser.post(f"{BASE}/sign-out", data={"csrf": token.group(1)})
            assert out.status_code == 303
            # ...and not after signing out: back to the sign-in form.
            stale = await copy.get(BASE)
            assert stale.status_code == 303
            assert stale.headers["location"].startswith(f"{BASE}/sign-in")
    with sessions() as s:
        assert s.scalar(select(WebSession).where(WebSession.id_hash == row.id_hash)) is None


async def test_an_expired_session_and_an_api_key_as_cookie_are_refused(api, tenant, sessions):
    async with signed_in(api, tenant) as (browser, _):
        with transaction(sessions) as s:
            s.execute(
                update(WebSession)
                .where(WebSession.owner_id == tenant.owner_id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert (await browser.get(BASE)).status_code == 303
    for name in ("nudge_session", "nudge_key"):  # the cookie once held the key itself
        async with httpx.AsyncClient(base_url=api.base_url, cookies={name: tenant.api_key}) as old:
            assert (await old.get(BASE)).status_code == 303, name


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://{host}"},  # the same host and port over another scheme
        {"Origin": "http://127.0.0.1:1"},  # another port
        {"Origin": "null"},
        {},  # neither Origin nor Referer
        {"Referer": "https://{host}/automations/task-scheduling"},
        {"Referer": "http://evil.example/automations/task-scheduling"},
    ],
)
async def test_posts_from_anywhere_but_the_page_are_403(api, tenant, headers):
    host = _origin(api).removeprefix("http://")
    headers = {k: v.format(host=host) for k, v in headers.items()}
    async with httpx.AsyncClient(base_url=api.base_url) as stranger:
        resp = await stranger.post(
            f"{BASE}/sign-in", data={"api_key": tenant.api_key}, headers=headers
        )
        assert resp.status_code == 403 and "nudge_session" not in stranger.cookies
    async with signed_in(api, tenant) as (browser, token):
        del browser.headers["Origin"]
        resp = await browser.post(f"{BASE}/sign-out", data={"csrf": token}, headers=headers)
        assert resp.status_code == 403
        assert (await browser.get(BASE)).status_code == 200  # still signed in


async def test_a_same_origin_referer_stands_in_for_a_missing_origin(api, tenant):
    async with httpx.AsyncClient(base_url=api.base_url) as browser:
        resp = await browser.post(
            f"{BASE}/sign-in",
            data={"api_key": tenant.api_key},
            headers={"Referer": f"{_origin(api)}{BASE}/sign-in"},
        )
        assert resp.status_code == 303 and "nudge_session" in browser.cookies


async def test_the_eleventh_wrong_sign_in_is_429_and_others_still_get_in(api, tenant):
    async with browser_for(api) as browser:
        for _ in range(10):
            bad = await browser.post(f"{BASE}/sign-in", data={"api_key": "nk_guess"})
            assert bad.status_code == 401
        limited = await browser.post(f"{BASE}/sign-in", data={"api_key": "nk_guess"})
        assert limited.status_code == 429
        wait = int(limited.headers["retry-after"])
        assert 0 < wait <= 60
        assert f"Try again in {wait} seconds" in limited.text
        # Over the limit, even the right key isn't checked: a guess learns nothing.
        right = await browser.post(f"{BASE}/sign-in", data={"api_key": tenant.api_key})
        assert right.status_code == 429 and "nudge_session" not in browser.cookies
        # Another client (as a trusted proxy reports it) signs in as usual.
        elsewhere = await browser.post(
            f"{BASE}/sign-in",
            data={"api_key": tenant.api_key},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert elsewhere.status_code == 303


async def test_the_eleventh_wrong_bearer_key_is_429_and_others_still_get_in(api, tenant):
    for _ in range(25):  # right keys aren't counted
        assert (await api.get("/api/account/", headers=auth(tenant))).status_code == 200
    for _ in range(10):
        bad = await api.get("/api/account/", headers={"Authorization": "Bearer nk_guess"})
        assert bad.status_code == 401
    limited = await api.get("/api/account/", headers={"Authorization": "Bearer nk_guess"})
    assert limited.status_code == 429
    wait = int(limited.headers["retry-after"])
    assert 0 < wait <= 60 and f"try again in {wait} s" in limited.json()["detail"]
    assert (await api.get("/api/account/", headers=auth(tenant))).status_code == 429
    other = auth(tenant) | {"X-Forwarded-For": "198.51.100.4"}
    assert (await api.get("/api/account/", headers=other)).status_code == 200
    # The page's sign-in shares the count: the same address is limited there too.
    async with browser_for(api) as browser:
        resp = await browser.post(f"{BASE}/sign-in", data={"api_key": tenant.api_key})
        assert resp.status_code == 429


def test_failures_leave_the_window_one_by_one():
    now = [1000.0]
    limiter = FailureLimiter(limit=3, window=60, clock=lambda: now[0])
    for at in (1000.0, 1010.0, 1020.0):
        now[0] = at
        assert limiter.retry_after("a") is None
        limiter.failed("a")
    now[0] = 1030.0
    assert limiter.retry_after("a") == 30  # until the failure at 1000 leaves, at 1060
    assert limiter.retry_after("b") is None  # counted per client
    now[0] = 1060.0
    assert limiter.retry_after("a") is None  # it has left: one more try
    limiter.failed("a")
    assert limiter.retry_after("a") == 10  # now until the one at 1010 leaves


def test_many_clients_neither_crash_nor_grow_the_limiter():
    """Asking never records a client, and a client whose failures expired is forgotten; with
    more clients on record than MAX_CLIENTS the expired ones are swept (this crashed with an
    IndexError on an emptied record, turning every wrong key into a 500)."""
    now = [0.0]
    limiter = FailureLimiter(limit=3, window=60, clock=lambda: now[0])
    for n in range(MAX_CLIENTS + 50):
        assert limiter.retry_after(f"asker-{n}") is None
    assert limiter._failures == {}
    for n in range(MAX_CLIENTS + 50):
        limiter.failed(f"guesser-{n}")
    now[0] = 61.0
    limiter.failed("late")  # sweeps every expired client
    assert list(limiter._failures) == ["late"]
    assert limiter.retry_after("guesser-1") is None
