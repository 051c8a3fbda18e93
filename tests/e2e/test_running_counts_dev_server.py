"""Temporal's running-workflow counts kept a few seconds per owner (a visibility count per
stats read was the read's largest cost), against the real dev server's visibility."""

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from nudge.platform.temporal import KIND, OWNER_ID
from nudge.reporting.stats import RunningCounts, running_workflows
from tests.support import poll

pytestmark = pytest.mark.slow


async def idle_sequence(client: Client, owner_id: int) -> WorkflowHandle:
    """A workflow on a queue nobody polls: Running until terminated."""
    attrs = TypedSearchAttributes(
        [SearchAttributePair(OWNER_ID, str(owner_id)), SearchAttributePair(KIND, "sequence")]
    )
    return await client.start_workflow(
        "Idle", id=f"idle-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}",
        search_attributes=attrs,
    )  # fmt: skip


async def test_counts_are_kept_then_refreshed_behind_the_answer(dev_env):
    client, owner = dev_env.client, 900_000 + uuid.uuid4().int % 100_000
    first = await idle_sequence(client, owner)
    # Visibility is eventually consistent: wait until Temporal itself counts it.
    await poll(lambda: running_workflows(client, owner), lambda c: c and c["sequence"] == 1)
    counts = RunningCounts(client, max_age=0.5)
    assert (await counts.of(owner))["sequence"] == 1  # an owner's first read waits
    second = await idle_sequence(client, owner)
    await poll(lambda: running_workflows(client, owner), lambda c: c and c["sequence"] == 2)
    assert (await counts.of(owner))["sequence"] == 1  # still fresh: kept, no count asked
    await asyncio.sleep(0.6)
    assert (await counts.of(owner))["sequence"] == 1  # stale: answered, a refresh starts
    refreshed = await poll(lambda: counts.of(owner), lambda c: c["sequence"] == 2, seconds=5)
    assert refreshed == {"sequence": 2, "recurring": 0, "campaign": 0, "rule": 0}
    await asyncio.gather(first.terminate(), second.terminate())
