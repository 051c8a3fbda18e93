"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium), see conftest.py."""

from collections.abc import Awaitable, Callable
from pathlib import Path

# The `screenshot` fixture: `await screenshot("after-save")` writes a full-page PNG to
# test-artifacts/screenshots/<test name>-after-save.png and returns its path.
Screenshot = Callable[[str], Awaitable[Path]]
