"""Small helpers tests import (fixtures live in conftest.py)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def auth(tenant: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def poll(
    fetch: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], seconds: float = 15
) -> Any:
    """Re-fetch until the condition holds or time runs out; returns the last value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await fetch()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)
