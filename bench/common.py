"""What every benchmark shares: progress lines, latency figures, the one Temporal dev server."""

import statistics
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from nudge.platform.binaries import find_binary
from nudge.platform.temporal import DATA_CONVERTER, SEARCH_ATTRIBUTES


def say(line: str) -> None:
    """Progress goes to stderr, so stdout holds only the results."""
    print(line, file=sys.stderr, flush=True)


def p50_p95(seconds: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    p95 = statistics.quantiles(seconds, n=20)[18] if len(seconds) > 1 else seconds[0]
    return statistics.median(seconds) * 1000, p95 * 1000


@asynccontextmanager
async def dev_server() -> AsyncIterator[Client]:
    """One dev server for the whole run, with our search attributes (visibility counts)."""
    say("starting the Temporal dev server …")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    try:
        yield env.client
    finally:
        await env.shutdown()
