"""A `nudge worker` process holding N open sequences that wait on their timers: its RSS
(VmRSS, and the peak VmHWM, from /proc: the worker's alone) for a few cache sizes
(NUDGE_WORKER_MAX_CACHED_WORKFLOWS), and how fast it took the N on.

Each cache size gets a fresh worker process, queue and N fresh contacts. The N sequences are
started straight on the Temporal client (`start_sequence`, 20 in flight) without their batch
rows: each run's first activity writes its row back, so "N batch rows" means every run has
begun and waits on its first step's timer (a day away). Throughput is N over that time.
"""

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from bench.common import Results, Row, say, timed
from bench.scale import Cluster
from bench.stage import bench_database
from nudge.core.models import Contact, TaskBatch
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.platform.settings import Settings
from nudge.sequences.payloads import SequenceInput
from nudge.sequences.starts import start_sequence

LIMIT_MB = 300


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _tenant(sessions: sessionmaker[Session], n: int) -> tuple[int, list[int]]:
    with transaction(sessions) as session:
        owner, _ = create_owner(session, f"memory-{uuid.uuid4().hex[:6]}")
        session.execute(
            insert(Contact),
            [{"owner_id": owner.id, "external_id": f"m{i}", "name": f"M {i}"} for i in range(n)],
        )
        ids = session.scalars(
            select(Contact.id).where(Contact.owner_id == owner.id).order_by(Contact.id)
        )
        return owner.id, list(ids)


def _begun(sessions: sessionmaker[Session], owner_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(TaskBatch.owner_id == owner_id)) or 0


async def one_size(
    client: Client, url: str, n: int, cache: int, slots: int, batch0: int
) -> dict[str, float]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    owner_id, contacts = await asyncio.to_thread(_tenant, sessions, n)
    workdir = Path(tempfile.mkdtemp(prefix="nudge-memory-"))
    cluster = Cluster(client.service_client.config.target_host, url, workdir)
    cluster.env |= {
        "NUDGE_WORKER_MAX_CACHED_WORKFLOWS": str(cache),
        "NUDGE_WORKER_ACTIVITY_SLOTS": str(slots),
    }
    try:
        worker = cluster.spawn_worker()
        await cluster.ready()
        idle, _ = _rss_mb(worker.pid)

        async def start(i: int) -> None:
            inp = SequenceInput(
                owner_id=owner_id,
                contact_id=contacts[i],
                batch_id=batch0 + i,  # its row is written back by the run's first activity
                sequence_type="standard",
            )
            await start_sequence(client, cluster.task_queue, inp, contact_name=f"M {i}")

        began = time.perf_counter()
        _, started_s = await timed(n, 20, start)
        while (begun := await asyncio.to_thread(_begun, sessions, owner_id)) < n:
            if time.perf_counter() - began > 600 or not worker.alive():
                break
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - began
        await asyncio.sleep(2)  # settled: every run asleep on its timer
        rss, peak = _rss_mb(worker.pid)
        say(
            f"  cache {cache:>6}, {slots} activity slots: {begun:,} of {n:,} waiting after "
            f"{seconds:.1f} s ({begun / seconds:.0f}/s; starts {n / started_s:.0f}/s); "
            f"RSS idle {idle:.0f} MB → {rss:.0f} MB, peak {peak:.0f} MB"
        )
        return {
            "cache": cache,
            "activity_slots": slots,
            "open_sequences": begun,
            "rss_mb": round(rss, 1),
            "peak_mb": round(peak, 1),
            "idle_mb": round(idle, 1),
            "per_s": round(begun / seconds, 1),
            "starts_per_s": round(n / started_s, 1),
        }
    finally:
        cluster.stop()
        engine.dispose()


async def main(client: Client, results: Results, n: int, caches: list[int]) -> None:
    url = bench_database()
    default = Settings().worker_max_cached_workflows
    slots = Settings().worker_activity_slots
    say(f"\n== worker memory: {n:,} open sequences per cache size {caches}; {url.split('@')[-1]}")
    upgrade(url)
    runs = [
        await one_size(client, url, n, cache, slots, 50_000_000 + k * 1_000_000)
        for k, cache in enumerate(caches)
    ]
    for run in runs:
        rss = run["rss_mb"]
        results.add(
            Row(
                f"worker RSS, {n:,} open sequences on timers, max_cached_workflows "
                f"{run['cache']:.0f}" + (" (default)" if run["cache"] == default else ""),
                rss,
                "MB",
                f"≤ {LIMIT_MB} MB",
                rss <= LIMIT_MB and run["open_sequences"] == n,
                run["idle_mb"],
                "the same worker idle",
                rss / run["idle_mb"],
                run,
            )
        )
