"""The calendar page in a real browser under its Content-Security-Policy: a wrong window is
shown beside its day, a saved calendar comes back, the copy button (the page's own script)
copies the feed URL, and rotating asks first. Screenshots land in test-artifacts/."""

import re

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser import Screenshot
from tests.support import auth

pytestmark = pytest.mark.slow
BASE = "/automations/task-scheduling"


async def test_calendar_form_copy_and_rotate(dev_api, tenant, page: Page, screenshot: Screenshot):
    root = str(dev_api.base_url).rstrip("/")
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=root)
    await page.goto(root + BASE + "/calendar")
    await page.get_by_label("API key").fill(tenant.api_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Working calendar")).to_be_visible()

    # An overlapping window: the error beside Monday, nothing saved.
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_label("Monday window 2 start").fill("16:00")
    await page.get_by_label("Monday window 2 end").fill("18:00")
    await page.get_by_role("button", name="Save calendar").click()
    await expect(page.locator("#hours-mon-error")).to_contain_text("overlap")
    await expect(page.get_by_label("Monday window 1 start")).to_have_attribute(
        "aria-invalid", "true"
    )
    await screenshot("overlap")
    await page.get_by_label("Monday window 2 start").fill("17:00")
    await page.get_by_label("Country").fill("de")
    await page.get_by_role("button", name="Save calendar").click()
    await expect(page.get_by_role("status").first).to_contain_text("Calendar saved")
    await expect(page.get_by_label("Country")).to_have_value("DE")
    saved = (await dev_api.get("/api/account/calendar/", headers=auth(tenant))).json()
    assert saved["timezone"] == "Europe/Berlin"
    assert saved["working_hours"]["mon"] == [["09:00", "17:00"], ["17:00", "18:00"]]

    # Copy: the button exists only with the script, and puts the URL on the clipboard.
    feed = page.get_by_label("Feed URL")
    url = await feed.input_value()
    assert url == saved["feed_url"]
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await screenshot("saved")

    # Rotating asks first; accepted, the URL changes.
    asked: list[str] = []

    async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.get_by_role("button", name="Rotate feed URL").click()
    await expect(page).to_have_url(re.compile(r"done=feed-rotated"))
    assert asked and "old one stops working" in asked[0]
    assert await page.get_by_label("Feed URL").input_value() != url
    assert refused == []
