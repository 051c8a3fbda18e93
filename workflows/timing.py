"""Durable waiting to a moment, shared by the workflows that wait without interruption."""

from datetime import datetime

from temporalio import workflow


async def sleep_until(when: datetime, summary: str) -> None:
    """One timer to `when`; none at all if it has already passed."""
    wait = (when - workflow.now()).total_seconds()
    if wait > 0:
        await workflow.sleep(wait, summary=summary)
