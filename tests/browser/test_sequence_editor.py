"""The sequence editor in a real browser (Debian Chromium) over the real API, dev server and
worker: build a 3-step sequence (add, move and remove steps; kinds, waits, anchors, longest
wait, templates), watch its timeline for a contact, see an invalid step's errors beside its
fields with nothing saved, untick one of what ends it early, save it, enroll the contact and
follow its steps; all under the page's Content-Security-Policy with nothing refused."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import ConsoleMessage, Locator, Page, expect
from sqlalchemy import func, select

from nudge.core.models import SequenceDefinition
from tests.browser import Screenshot

pytestmark = pytest.mark.slow
BASE = "/automations/task-scheduling"
NAME = "Three-touch outreach"


def step(page: Page, number: int) -> Locator:
    return page.get_by_role("group", name=f"Step {number}", exact=True)


async def fill_step(
    page: Page,
    number: int,
    *,
    kind: str,
    wait: str,
    unit: str,
    anchor: str,
    title: str,
) -> None:
    box = step(page, number)
    await box.get_by_label("Kind").select_option(kind)
    await box.get_by_label("Wait", exact=True).fill(wait)
    await box.get_by_label("Wait unit", exact=True).select_option(unit)
    await box.get_by_label("after", exact=True).select_option(anchor)
    await box.get_by_label("Title").fill(title)


def due(text: str) -> datetime:
    found = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text)
    assert found is not None, text
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def definitions(sessions, owner_id: int) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        count = s.scalar(select(func.count()).where(SequenceDefinition.owner_id == owner_id))
    return int(count or 0)


async def test_build_preview_save_enroll_and_follow_a_sequence(  # type: ignore[no-untyped-def]
    dev_api, tenant, sessions, page: Page, screenshot: Screenshot
) -> None:
    root = str(dev_api.base_url).rstrip("/")
    refused: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            refused.append(message.text)

    page.on("console", watch)
    await page.goto(root + BASE)
    await page.get_by_label("API key").fill(tenant.api_key)
    await page.get_by_role("button", name="Sign in").click()
    section = page.locator("#definitions")
    await expect(section.locator("tr.definition").filter(has_text="built-in")).to_have_count(3)
    await section.get_by_role("link", name="New sequence", exact=True).click()
    await expect(page.get_by_role("heading", name="New sequence")).to_be_visible()

    # Three steps: a call a day after enrollment, an email two days after it, then a
    # LinkedIn message 12 hours after the email task is completed (at most 5 days' wait).
    await page.get_by_label("Name", exact=True).fill(NAME)
    await fill_step(page, 1, kind="call", wait="1", unit="days", anchor="enrollment",
                    title="Call {{ contact_name }}")  # fmt: skip
    await page.get_by_role("button", name="Add a step").click()
    await expect(step(page, 2)).to_be_visible()
    email = "Email {{ contact_name }} ({{ step_number }}/{{ step_count }})"
    await fill_step(page, 2, kind="email", wait="2", unit="days", anchor="previous_due",
                    title=email)  # fmt: skip
    await page.get_by_role("button", name="Add a step").click()
    third = step(page, 3)
    await expect(third.get_by_label("Longest wait", exact=True)).to_be_hidden()
    connect = "Connect with {{ contact_name }}"
    await fill_step(page, 3, kind="linkedin", wait="12", unit="hours",
                    anchor="previous_completed", title=connect)  # fmt: skip
    await third.get_by_label("Longest wait", exact=True).fill("5")
    await third.get_by_label("then").select_option("end")

    # A fourth step, moved up, then removed: the others keep their place and values.
    await page.get_by_role("button", name="Add a step").click()
    await step(page, 4).get_by_label("Title").fill("Temporary {{ contact_name }}")
    await page.get_by_role("button", name="Move step 4 up").click()
    await expect(step(page, 3).get_by_label("Title")).to_have_value("Temporary {{ contact_name }}")
    await expect(step(page, 4).get_by_label("Title")).to_have_value(
        "Connect with {{ contact_name }}"
    )
    await page.get_by_role("button", name="Remove step 3").click()
    await expect(page.locator("fieldset.step")).to_have_count(3)
    await expect(step(page, 3).get_by_label("Title")).to_have_value(
        "Connect with {{ contact_name }}"
    )
    await expect(step(page, 3).get_by_label("Longest wait", exact=True)).to_have_value("5")

    # The timeline for the contact: each step's kind, title and due time (or what it waits for).
    await page.get_by_label("For contact").select_option(str(tenant.contact_id))
    rows = page.locator("#timeline tr.timeline-step")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text(f"Call {tenant.contact_name}")
    await expect(rows.nth(1)).to_contain_text(f"Email {tenant.contact_name} (2/3)")
    await expect(rows.nth(2)).to_contain_text("after the previous task is completed")
    await expect(rows.nth(2)).to_contain_text("end after 120 h without it")
    first, second = due(await rows.nth(0).inner_text()), due(await rows.nth(1).inner_text())
    assert abs((first - datetime.now(UTC) - timedelta(days=1)).total_seconds()) < 180
    assert second - first == timedelta(days=2)
    assert [await rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)] == [
        "call", "email", "linkedin"
    ]  # fmt: skip
    await screenshot("timeline")

    # Invalid steps: the preview says why; saving shows each error beside its step's field
    # and saves nothing.
    await step(page, 2).get_by_label("Wait", exact=True).fill("400")
    await step(page, 3).get_by_label("Title").fill("Connect with {{ nope }}")
    await expect(page.locator("#preview-problem")).to_contain_text("step 2 wait")
    await page.get_by_role("button", name="Create sequence").click()
    wait_error = page.locator("#steps-1-wait-error")
    await expect(wait_error).to_contain_text("365")
    await expect(step(page, 2).get_by_label("Wait", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(step(page, 3).locator("#steps-2-title_template-error")).to_contain_text("nope")
    await expect(step(page, 3).get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    await expect(step(page, 1).locator(".field-error")).to_have_count(0)
    await expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    await screenshot("step-errors")
    assert definitions(sessions, tenant.owner_id) == 0

    await step(page, 2).get_by_label("Wait", exact=True).fill("2")
    await step(page, 3).get_by_label("Title").fill("Connect with {{ contact_name }}")
    # What ends it early: the defaults ticked; booking a meeting no longer does.
    ends = page.get_by_role("group", name="Ends early when")
    await expect(ends.get_by_label("replies to an email")).to_be_checked()
    await ends.get_by_label("books a meeting").uncheck()
    await page.get_by_role("button", name="Create sequence").click()
    await expect(page.get_by_role("status")).to_have_text("Sequence created.")
    row = page.locator(f"tr.definition[data-definition='{NAME}']")
    await expect(row.locator("td[data-label='Version']")).to_have_text("1")
    await expect(row.locator("td[data-label='Steps']")).to_have_text("3")
    assert definitions(sessions, tenant.owner_id) == 1
    with sessions() as s:
        saved = s.scalar(
            select(SequenceDefinition).where(SequenceDefinition.owner_id == tenant.owner_id)
        )
        assert saved is not None
        assert (saved.exit_activity_types, saved.exit_statuses) == (
            ["email_replied"], ["active", "lost"]
        )  # fmt: skip

    # Enroll the contact, then follow its three steps.
    await row.get_by_role("link", name=f"Enroll contacts in {NAME}").click()
    await page.get_by_label(tenant.contact_name).check()
    await page.get_by_role("button", name="Enroll").click()
    await expect(page.get_by_role("status")).to_contain_text("Enrolled.")
    await expect(page.locator("#enrollment-state")).to_have_text("running")
    await expect(page.locator("#enrollment-version")).to_have_text("1")
    steps = page.locator("tr.step-progress")
    await expect(steps).to_have_count(3)
    for i, kind in enumerate(["call", "email", "linkedin"]):
        await expect(steps.nth(i).locator("td[data-label='Kind']")).to_have_text(kind)
        await expect(steps.nth(i).locator(".badge")).to_have_text(re.compile("^(pending|waiting)$"))
    await expect(steps.nth(0).locator("td[data-label='Due']")).to_have_text(re.compile("UTC$"))
    await screenshot("progress")

    # The running sequences list shows its steps too.
    await page.goto(root + BASE)
    running = page.locator("tr.sequence").filter(has_text=NAME)
    await expect(running.locator(".step-states li")).to_have_count(3)
    await expect(row.locator("td[data-label='Running']")).to_have_text("1")
    await screenshot("sequences-section")

    # A live edit: before saving, the page says what it does to the running enrollment;
    # after, how many adopted it.
    await row.get_by_role("link", name=f"Edit {NAME}").click()
    consequence = page.locator("#consequence")
    await expect(consequence).to_contain_text("No step differs from version 1")
    await step(page, 3).get_by_label("Title").fill("Connect on LinkedIn with {{ contact_name }}")
    await expect(consequence).to_contain_text("1 running enrollment will adopt the new step 3;")
    await expect(consequence).to_contain_text("it finishes on version 1")
    await page.get_by_label("Apply the new steps to them (future steps)").check()
    await screenshot("live-edit")
    await page.get_by_role("button", name="Save sequence").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Sequence saved as version 2. 1 running enrollment adopted its new steps."
    )
    await expect(row.locator("td[data-label='Version']")).to_have_text("2")
    assert refused == []
