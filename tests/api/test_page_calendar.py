"""The calendar page over HTTP: the form saves what PUT /api/account/calendar/ would (and the
API then answers it), problems beside their fields with nothing saved, the feed URL shown is
the API's and rotating it retires the old one, future_steps counts the running workflows
told, and another owner's session never sees this owner's feed."""

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.api.test_page import browser_for, signed_in
from tests.api.test_page_sequences import api_step, define
from tests.support import auth

BASE = "/automations/task-scheduling"
PAGE = f"{BASE}/calendar"
API = "/api/account/calendar/"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def calendar_form(token: str, hours: dict[str, list[tuple[str, str]]], **more: str) -> dict:
    """The form as the browser posts it: every day's three window slots, empty where unused."""
    form: dict[str, str] = {"csrf": token, "timezone": "UTC", "country": "", "subdivision": "",
                            "closed_dates": "", "apply_to_running": "none"}  # fmt: skip
    for day in DAYS:
        windows = hours.get(day, [])
        for i in range(max(3, len(windows))):
            start, end = windows[i] if i < len(windows) else ("", "")
            form[f"hours-{day}-{i}-start"], form[f"hours-{day}-{i}-end"] = start, end
    return {**form, **more}


def beside(html: str, field: str) -> str | None:
    """The error shown beside a field, if any."""
    found = re.search(rf'id="{field}-error" role="alert">([^<]*)<', html)
    return found.group(1) if found else None


def feed_url(html: str) -> str:
    found = re.search(r'<input id="feed_url" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


async def read(api: httpx.AsyncClient, tenant: Any) -> dict:
    resp = await api.get(API, headers=auth(tenant))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_the_form_saves_what_the_api_then_shows(api, tenant):
    hours = {"mon": [("13:00", "17:30"), ("09:00", "12:00")], "tue": [("9:00", "17:00")],
             "sat": [("10:00", "24:00")]}  # fmt: skip
    form = calendar_form(
        "", hours, timezone="Europe/Berlin", country="de", subdivision="by",
        closed_dates="2026-12-24, 2026-12-31\n2026-12-24",
    )  # fmt: skip
    async with signed_in(api, tenant) as (browser, token):
        blank = await browser.get(PAGE)
        assert blank.status_code == 200
        assert "Until you change it: UTC" in blank.text
        assert 'name="hours-mon-0-start" value="09:00"' in blank.text  # the defaults
        assert 'name="hours-sat-0-start" value=""' in blank.text
        saved = await browser.post(PAGE, data={**form, "csrf": token})
        assert saved.status_code == 303, saved.text[:800]
        assert saved.headers["location"] == f"{PAGE}?done=calendar-saved"
        shown = await browser.get(saved.headers["location"])
        dashboard = (await browser.get(BASE)).text
    body = await read(api, tenant)
    assert body["timezone"] == "Europe/Berlin"
    assert body["working_hours"] == {
        "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
        "tue": [["09:00", "17:00"]],
        "sat": [["10:00", "24:00"]],
    }
    assert body["holidays"] == {"country": "DE", "subdivision": "BY"}
    assert body["closed_dates"] == ["2026-12-24", "2026-12-31"]
    assert body["updated_at"] is not None

    html = shown.text
    assert "Calendar saved" in html and "running workflow" not in html
    assert 'name="hours-mon-1-start" value="13:00"' in html  # shown again, in order
    assert 'id="timezone" name="timezone" value="Europe/Berlin"' in html
    assert 'value="DE"' in html and 'value="BY"' in html
    assert "2026-12-24\n2026-12-31</textarea>" in html
    assert re.search(r'id="calendar-hours">Mon 09:00\u201312:00, 13:00\u201317:30; Tue ', dashboard)
    assert 'id="calendar-holidays">DE-BY<' in dashboard


async def test_problems_show_beside_their_fields_and_nothing_changes(api, tenant):
    put = await api.put(
        API,
        json={"timezone": "Asia/Tokyo", "working_hours": {"mon": [["08:00", "16:00"]]}},
        headers=auth(tenant),
    )
    assert put.status_code == 200, put.text
    before = await read(api, tenant)
    overlapping = {"mon": [("09:00", "12:00"), ("11:00", "14:00")], "wed": [("09:00", "")],
                   "thu": [("17:00", "09:00")], "fri": [("9am", "5pm")]}  # fmt: skip
    async with signed_in(api, tenant) as (browser, token):
        bad = calendar_form(token, overlapping, timezone="Mars/Olympus_Mons", country="XX",
                            closed_dates="2026-12-24, 2026-02-30")  # fmt: skip
        resp = await browser.post(PAGE, data=bad)
        region = calendar_form(token, {"mon": [("09:00", "17:00")]}, country="DE",
                               subdivision="ZZ")  # fmt: skip
        unknown_region = await browser.post(PAGE, data=region)
        closed = await browser.post(PAGE, data=calendar_form(token, {}))
        forged = await browser.post(PAGE, data=calendar_form("", {"mon": [("09:00", "10:00")]}))
    assert resp.status_code == 422
    html = resp.text
    assert "Nothing was saved" in html
    assert "unknown time zone" in (beside(html, "timezone") or "")
    assert "overlap" in (beside(html, "hours-mon") or "")
    assert "start and an end" in (beside(html, "hours-wed") or "")
    assert "inverted" in (beside(html, "hours-thu") or "")
    assert "is not a time" in (beside(html, "hours-fri") or "")
    assert beside(html, "hours-tue") is None  # a closed day is fine
    assert "unknown holiday country" in (beside(html, "country") or "")
    assert "2026-02-30" in (beside(html, "closed_dates") or "")
    assert 'aria-invalid="true" aria-describedby="hours-mon-error"' in html
    assert 'name="hours-mon-1-start" value="11:00"' in html  # as typed
    assert 'value="Mars/Olympus_Mons"' in html

    assert unknown_region.status_code == 422
    assert "unknown subdivision" in (beside(unknown_region.text, "subdivision") or "")
    assert beside(unknown_region.text, "country") is None
    assert closed.status_code == 422
    assert "no open hour" in (beside(closed.text, "working_hours") or "")
    assert forged.status_code == 403
    assert await read(api, tenant) == before


async def test_the_feed_url_shown_is_the_apis_and_rotating_retires_it(api, tenant):
    async with signed_in(api, tenant) as (browser, token):
        shown = feed_url((await browser.get(PAGE)).text)
        assert shown == (await read(api, tenant))["feed_url"]
        old = urlsplit(shown).path
        assert (await api.get(old)).status_code == 200

        refused = await browser.post(f"{PAGE}/feed/rotate", data={"csrf": ""})
        assert refused.status_code == 403
        assert (await read(api, tenant))["feed_url"] == shown

        rotated = await browser.post(f"{PAGE}/feed/rotate", data={"csrf": token})
        assert rotated.status_code == 303
        assert rotated.headers["location"] == f"{PAGE}?done=feed-rotated#feed"
        page = (await browser.get(rotated.headers["location"])).text
    assert "the old one no longer works" in page
    new = feed_url(page)
    assert new != shown and new == (await read(api, tenant))["feed_url"]
    assert (await api.get(old)).status_code == 404
    feed = await api.get(urlsplit(new).path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    # The copy button is the page's own script's, which shows it: nothing inline for the CSP.
    assert re.search(r'<button type="button" data-copy="feed_url"[^>]* hidden>Copy<', page)
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert re.findall(r"\son[a-z]+\s*=", page) == [] and "style=" not in page


async def test_another_owners_session_never_sees_my_feed(api, make_tenant):
    me, other = make_tenant(), make_tenant("Zed Secretname")
    mine = (await read(api, me))["feed_url"]
    token = urlsplit(mine).path.rsplit("/", 1)[-1].removesuffix(".ics")
    async with signed_in(api, other) as (browser, csrf):
        pages = [await browser.get(PAGE), await browser.get(BASE)]
        rotated = await browser.post(f"{PAGE}/feed/rotate", data={"csrf": csrf})
        pages.append(await browser.get(rotated.headers["location"]))
    for page in pages:
        assert page.status_code == 200
        assert token not in page.text
    assert feed_url(pages[-1].text) == (await read(api, other))["feed_url"] != mine
    assert (await read(api, me))["feed_url"] == mine  # their rotation left mine alone
    async with browser_for(api) as stranger:  # not signed in: sent to the sign-in form
        resp = await stranger.get(PAGE)
        assert resp.status_code == 303 and "/sign-in?next=" in resp.headers["location"]


async def test_future_steps_says_how_many_running_workflows_use_it(api, tenant):
    definition = await define(api, tenant, "Placed", [api_step("a", "call", 3)])
    started = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "definition_id": definition["id"]},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    hours = {"mon": [("08:00", "18:00")], "tue": [("08:00", "18:00")]}
    async with signed_in(api, tenant) as (browser, token):
        kept = await browser.post(PAGE, data=calendar_form(token, hours))
        assert kept.headers["location"] == f"{PAGE}?done=calendar-saved"
        told = await browser.post(
            PAGE, data=calendar_form(token, hours, apply_to_running="future_steps")
        )
        assert told.status_code == 303, told.text[:800]
        assert told.headers["location"] == f"{PAGE}?done=calendar-saved&migrated=1"
        shown = await browser.get(told.headers["location"])
    assert "1 running workflow will use it for its next due times." in shown.text
