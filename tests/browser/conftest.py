"""Browser fixtures: one headless Debian Chromium for the session, a fresh context per test.

Playwright drives the system browser at /usr/bin/chromium (`apt-get install chromium`);
`playwright install` is never run, so nothing is downloaded.
"""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser import Screenshot

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _file_part(text: str) -> str:
    """`text` made safe for a file name (parametrized ids hold brackets, slashes, spaces)."""
    return re.sub(r"[^\w.-]+", "_", text).strip("_")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, shared by the session (fixtures and tests run on one session loop)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: browser tests need Debian's Chromium; "
            "install it with `sudo apt-get install chromium` (never `playwright install`)",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh context (no cookies or storage shared between tests), 1280x800."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Screenshot:
    """`await screenshot(name)`: a full-page PNG of `page` at
    test-artifacts/screenshots/<test name>-<name>.png; returns the path."""
    test_name = _file_part(request.node.name)

    async def take(name: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{_file_part(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=path, full_page=True)
        return path

    return take
