"""`nudge up`'s Temporal dev server (state in a SQLite file, with the pragmas `nudge up`
passes: nudge/platform/supervisor.py) against the in-memory dev server the tests use.

Two fresh servers side by side on the benchmark's ports, the same workload on each: N
workflows of one no-op activity, executed to completion 20 in flight on a worker in this
process; halves alternated memory, file, file, memory so drift on a shared machine cancels.
"""

import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import (
    FILE_PORT,
    MEMORY_PORT,
    Results,
    alternated,
    dev_server,
    say,
    throughput_row,
    timed,
)
from bench.floor import ActivityFloorWorkflow, noop
from nudge.core.models import utcnow
from nudge.platform.settings import Settings
from nudge.platform.supervisor import temporal_argv
from nudge.tasks.payloads import NewTask


def nudge_up_pragmas(data_dir: Path) -> list[str]:
    """The --sqlite-pragma flags `nudge up` starts its server with."""
    argv = temporal_argv(Settings(data_dir=data_dir))
    flags: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--sqlite-pragma":
            flags += [arg, argv[i + 1]]
    return flags


async def _round_trips(
    client: Client, n: int, concurrency: int, offset: int
) -> tuple[list[float], float]:
    """n workflow + activity round trips on this server, timed (`timed`'s figures), on a
    fresh queue and worker."""
    queue = f"server-{uuid.uuid4().hex[:8]}"
    new = NewTask(
        idempotency_key="unused",
        owner_id=0,
        contact_id=None,
        source="bench",
        title="no-op",
        due_at=utcnow(),
    )
    with ThreadPoolExecutor(16) as pool:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[ActivityFloorWorkflow],
            activities=[noop],
            activity_executor=pool,
        ):

            async def one(i: int) -> None:
                await client.execute_workflow(
                    ActivityFloorWorkflow.run, new, id=f"{queue}-{offset + i}", task_queue=queue
                )

            return await timed(n, concurrency, one)


async def main(results: Results, n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="nudge-bench-temporal-") as tmp:
        pragmas = nudge_up_pragmas(Path(tmp))
        db_file = str(Path(tmp) / "temporal.db")
        say(f"\n== nudge up's server (file, {' '.join(pragmas[1::2])}) vs in memory: {n} each")
        async with (
            dev_server(MEMORY_PORT) as memory,
            dev_server(FILE_PORT, db_file=db_file, extra=pragmas) as file,
        ):
            clients = {"memory": memory, "file": file}
            half = n // 2
            sides = await alternated(
                "memory",
                "file",
                half,
                "round trips",
                lambda side, offset: _round_trips(clients[side], half, concurrency, offset),
            )
    results.add(
        throughput_row(
            "nudge up's file-backed dev server vs in-memory, workflow + activity",
            sides["file"].rate,
            sides["memory"].rate,
            "in-memory dev server",
            pragmas=pragmas[1::2],
            n=2 * half,
            concurrency=concurrency,
        )
    )
