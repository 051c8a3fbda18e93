"""The page in a real browser (Debian Chromium) over the real API, dev server and worker:
sign in, a rule with a live preview and an inline template error, toggle it, a sequence's
progress bar and its cancel button, sign out. Screenshots land in test-artifacts/."""

import re

import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import select

from nudge.core.models import Rule
from tests.browser import Screenshot
from tests.support import auth, poll

pytestmark = pytest.mark.slow
BASE = "/automations/task-scheduling"
TITLE = "Follow up with {{contact_name}} - engaged with email"


async def test_rule_lifecycle_and_a_sequence(
    dev_api, tenant, sessions, page: Page, screenshot: Screenshot
):
    started = await dev_api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "aggressive"},
        headers=auth(tenant),
    )
    assert started.status_code == 201, started.text
    workflow_id = started.json()["workflow_id"]
    root = str(dev_api.base_url).rstrip("/")

    # Signing in: the page sends a stranger to the form, then back.
    await page.goto(root + BASE)
    await expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    await page.get_by_label("API key").fill("nk_not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await page.get_by_label("API key").fill(tenant.api_key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Task scheduling")).to_be_visible()
    await screenshot("signed-in")

    # A rule with a template: the preview renders it for the contact as it is typed.
    await page.get_by_role("link", name="New rule").click()
    await page.get_by_label("Name").fill("Email Open Follow-up")
    await page.get_by_label("Task title").fill(TITLE)
    await page.get_by_label("Task description").fill(
        "{{contact_name}} opened your email - strike while hot!"
    )
    await page.get_by_label("Priority").select_option("high")
    await page.get_by_label("Delay (hours)").fill("4")
    await page.get_by_label("Reminder (hours before due)").fill("1")
    preview_title = page.locator("#preview-title")
    await expect(preview_title).to_have_text(
        f"Follow up with {tenant.contact_name} - engaged with email"
    )
    await expect(page.locator("#preview-description")).to_have_text(
        f"{tenant.contact_name} opened your email - strike while hot!"
    )
    # Due 4 h from now, its reminder an hour before (the same code as the preview endpoint).
    await expect(page.locator("#preview-reminder")).to_have_text(re.compile(r"^\d{4}-.* UTC$"))
    due = await page.locator("#preview-due").inner_text()
    reminder = await page.locator("#preview-reminder").inner_text()
    assert _hour(due) - _hour(reminder) in (1, -23), (due, reminder)
    await screenshot("preview")

    # A bad template: the preview says why, and saving shows the error beside the field.
    await page.get_by_label("Task title").fill("Call {{ contact_nme }}")
    await expect(page.locator("#preview-problem")).to_contain_text("contact_nme")
    await page.get_by_role("button", name="Create rule").click()
    field_error = page.locator("#task_title_template-error")
    await expect(field_error).to_contain_text("contact_nme")
    await expect(page.get_by_label("Task title")).to_have_attribute("aria-invalid", "true")
    await screenshot("template-error")
    with sessions() as s:
        assert s.scalar(select(Rule).where(Rule.owner_id == tenant.owner_id)) is None

    await page.get_by_label("Task title").fill(TITLE)
    await page.get_by_role("button", name="Create rule").click()
    await expect(page.get_by_role("status")).to_have_text("Rule created.")
    row = page.locator("tr[data-rule='Email Open Follow-up']")
    await expect(row.get_by_role("button", name="Deactivate Email Open Follow-up")).to_be_visible()
    with sessions() as s:
        rule = s.scalar(select(Rule).where(Rule.owner_id == tenant.owner_id))
        assert rule is not None and rule.is_active and rule.delay_hours == 4
        assert (rule.task_priority, rule.reminder_offset_hours) == ("high", 1)

    # Deactivate, then activate again: the toggle says which, and the database agrees.
    await row.get_by_role("button", name="Deactivate Email Open Follow-up").click()
    await expect(page.get_by_role("status")).to_contain_text("Rule deactivated")
    await expect(row.get_by_role("button", name="Activate Email Open Follow-up")).to_have_text(
        "Inactive"
    )
    with sessions() as s:
        assert s.get(Rule, rule.id).is_active is False  # type: ignore[union-attr]
    await screenshot("deactivated")
    await row.get_by_role("button", name="Activate Email Open Follow-up").click()
    await expect(page.get_by_role("status")).to_have_text("Rule activated.")
    await expect(row.get_by_role("button", name="Deactivate Email Open Follow-up")).to_be_visible()
    with sessions() as s:
        assert s.get(Rule, rule.id).is_active is True  # type: ignore[union-attr]

    # The running sequence: a progress bar, a link to Temporal, and a cancel button.
    sequence = page.locator(f"tr.sequence[data-workflow='{workflow_id}']")
    bar = sequence.locator("progress")
    await expect(bar).to_have_attribute("max", "4")
    await expect(bar).to_have_attribute("value", "0")
    await expect(sequence).to_contain_text("0 of 4 tasks")
    await expect(sequence.get_by_role("link", name="Temporal ↗")).to_have_attribute(
        "href", re.compile(re.escape(f"/workflows/{workflow_id}") + "$")
    )
    await screenshot("sequence-running")

    # Pause, then resume: the button names what it does, the state follows.
    name = f"the sequence for {tenant.contact_name}"
    await sequence.get_by_role("button", name=f"Pause {name}").click()
    await expect(page.get_by_role("status")).to_have_text("Sequence paused.")
    await _reload_until(page, sequence.locator(".badge"), "paused")
    await sequence.get_by_role("button", name=f"Resume {name}").click()
    await expect(page.get_by_role("status")).to_contain_text("Sequence resumed")
    await _reload_until(page, sequence.locator(".badge"), "running")

    page.once("dialog", lambda dialog: dialog.accept())
    await sequence.get_by_role("button", name=re.compile("^Cancel the sequence")).click()
    await expect(page.get_by_role("status")).to_contain_text("Sequence cancelled")
    progress = await poll(
        lambda: dev_api.get(f"/api/task-automation/sequences/{workflow_id}/", headers=auth(tenant)),
        lambda r: r.json()["state"] == "cancelled",
    )
    assert progress.json()["state"] == "cancelled"
    await page.reload()
    await expect(page.locator(f"tr.sequence[data-workflow='{workflow_id}']")).to_have_count(0)
    await expect(page.locator("tr.batch").first).to_contain_text("cancelled")

    # Readable at a phone's width too: nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot("phone")
    await page.set_viewport_size({"width": 1280, "height": 800})

    # Signing out: the cookie is gone and the page asks for a key again.
    await page.get_by_role("button", name=re.compile("^Sign out")).click()
    await expect(page).to_have_url(re.compile(r"/sign-in$"))
    await page.goto(root + BASE)
    await expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    assert not [c for c in await page.context.cookies() if c["name"] == "nudge_session"]


def _hour(text: str) -> int:
    return int(text.split()[1].split(":")[0])


async def _reload_until(page: Page, badge: Locator, text: str) -> None:
    """The signal reaches the workflow just after the redirect: reload until it shows."""
    for _ in range(50):
        if (await badge.inner_text()).strip() == text:
            return
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(badge).to_have_text(text)
