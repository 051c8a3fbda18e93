"""The page under its Content-Security-Policy in a real browser: nothing is blocked (htmx's
live preview works, no inline code is refused), and the cancel button still asks first."""

import re

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.support import auth

pytestmark = pytest.mark.slow
BASE = "/automations/task-scheduling"


async def test_nothing_is_blocked_and_cancel_still_asks(dev_api, tenant, page: Page):
    started = await dev_api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard"},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    workflow_id = started.json()["workflow_id"]
    root = str(dev_api.base_url).rstrip("/")
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    await page.goto(root + BASE)
    await page.get_by_label("API key").fill(tenant.api_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Task scheduling")).to_be_visible()

    # Dismissing the question keeps the sequence running: the form was never sent.
    sequence = page.locator(f"tr.sequence[data-workflow='{workflow_id}']")
    asked: list[str] = []

    async def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await sequence.get_by_role("button", name=re.compile("^Cancel the sequence")).click()
    await page.wait_for_timeout(300)
    assert asked == ["Cancel this sequence? Tasks already created stay."]
    await expect(page).to_have_url(re.compile(re.escape(BASE) + r"(\?done=signed-in)?$"))
    await page.reload()
    await expect(sequence).to_have_count(1)

    # htmx (served from this site) renders the live preview.
    await page.goto(root + BASE + "/rules/new")
    await page.get_by_label("Name").fill("Calls")
    await page.get_by_label("Task title").fill("Call {{contact_name}}")
    await expect(page.locator("#preview-title")).to_have_text(f"Call {tenant.contact_name}")
    assert refused == []
