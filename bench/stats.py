"""GET /api/task-automation/stats/ (all time) at a small and a big size, on SQLite and on
PostgreSQL: the p95 at the big size (target ≤ 30 ms) and its ratio to the p95 at 10k tasks
(target ≤ 2x: flat).

Each database is filled fresh for each size (bench/stats_data.py: 100k contacts, 500 rules,
the tasks, batches, events and firings, then the roll-ups rebuilt), served by a `nudge api`
process of its own and measured with sequential requests, beside GET /healthz on the same
process (the floor under any request). `--explain` adds every statement's plan and time.
"""

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.common import DEFAULT_PG, Results, Row, p50_p95, say
from bench.scale import Cluster
from bench.stats_data import fill, reset_postgres, row_counts
from nudge.core.models import utcnow
from nudge.platform.db import make_engine
from nudge.platform.temporal import KIND, OWNER_ID
from nudge.reporting.stats import KINDS, Window

STATS = "/api/task-automation/stats/"
WARMUPS = 3
SMALL = 10_000
LIMIT_MS = 30
T = TypeVar("T")


async def _ticking(what: str, work: Awaitable[T]) -> T:
    """Await work, saying every 15 s that it is still going (one INSERT can take a while)."""
    task = asyncio.ensure_future(work)
    start = time.perf_counter()
    while not (await asyncio.wait({task}, timeout=15))[0]:
        say(f"  … {what}: {time.perf_counter() - start:.0f} s")
    return task.result()


async def _sample(n: int, op: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Sequential calls, so each latency is one request's alone: (median, p95) ms."""
    for _ in range(WARMUPS):
        await op()
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        await op()
        seconds.append(time.perf_counter() - start)
    return p50_p95(seconds)


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> Any:
    resp = await http.get(path, params=params)
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text[:500]}"
    return resp.json()


async def _idle_workflows(client: Client, owner_id: int) -> list[WorkflowHandle]:
    """Workflows on a queue nobody polls stay Running, so visibility has something to count."""
    handles = []
    for kind in KINDS:
        attrs = TypedSearchAttributes(
            [SearchAttributePair(OWNER_ID, str(owner_id)), SearchAttributePair(KIND, kind)]
        )
        handles.append(
            await client.start_workflow(
                "BenchIdle",
                id=f"bench-idle-{kind}-{uuid.uuid4().hex[:8]}",
                task_queue="bench-stats-idle",
                search_attributes=attrs,
            )
        )
    return handles


def _databases(tmp: str, which: list[str]) -> list[tuple[str, str]]:
    dbs = [("SQLite", f"sqlite:///{tmp}/stats.db")] if "sqlite" in which else []
    url = os.environ.get("NUDGE_BENCH_DATABASE_URL") or DEFAULT_PG
    where = make_url(url).render_as_string(hide_password=True)
    if "postgresql" not in which:
        pass
    elif make_url(url).get_backend_name() != "postgresql":
        say(f"NUDGE_BENCH_DATABASE_URL is not PostgreSQL ({where}): SQLite only")
    elif reason := reset_postgres(url):
        say(f"PostgreSQL at {where} can't be reached ({reason}): SQLite only")
    else:
        dbs.append(("PostgreSQL", url))
    return dbs


def _forget_sqlite(url: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)


def _figures(body: dict) -> str:
    tasks = body["tasks"]
    return f"{tasks['total']:,} tasks, {tasks['overdue']:,} overdue, {len(body['per_rule'])} rules"


async def _one_size(
    client: Client, database: str, url: str, n_tasks: int, requests: int, explain: bool
) -> dict[str, Any]:
    if database == "PostgreSQL":
        reset_postgres(url)
    else:
        await asyncio.to_thread(_forget_sqlite, url)
    say(f"\n== {database}: filling {n_tasks:,} tasks")
    start = time.perf_counter()
    filled = await _ticking(f"filling {database}", asyncio.to_thread(fill, url, n_tasks))
    fill_seconds = time.perf_counter() - start
    engine = make_engine(url)
    counts = row_counts(engine, filled.owner_id)
    say("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    assert counts["tasks of the measured owner"] == n_tasks, counts
    idle = await _idle_workflows(client, filled.owner_id)
    now = utcnow()
    week = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}
    # Served as users serve it: a `nudge api` process of its own (not this one's heap).
    cluster = Cluster(
        client.service_client.config.target_host, url, Path(tempfile.mkdtemp(prefix="stats-"))
    )
    try:
        cluster.spawn_api()
        await cluster.ready()
        async with cluster.clients(filled.key) as (http,):
            say(f"  all time: {_figures(await _get(http, STATS))}")
            rows = {
                "all": await _sample(requests, lambda: _get(http, STATS)),
                "week": await _sample(requests, lambda: _get(http, STATS, week)),
                "healthz": await _sample(requests, lambda: _get(http, "/healthz")),
            }
    finally:
        cluster.stop()
    await asyncio.gather(*(handle.terminate() for handle in idle))
    for name, (p50, p95) in rows.items():
        say(f"  {name:<10} median {p50:8.1f} ms   p95 {p95:8.1f} ms")
    if explain:
        from bench.stats_plans import explain as plans
        from bench.stats_plans import timings

        window = Window.of(filled.owner_id, now, None, None)
        plans(engine, window)
        timings(engine, {"all tasks": window})
    engine.dispose()
    return {"rows": rows, "fill_seconds": round(fill_seconds, 1), "counts": counts}


async def main(
    client: Client,
    results: Results,
    n_tasks: int,
    requests: int,
    databases: list[str],
    explain: bool = False,
) -> None:
    with tempfile.TemporaryDirectory(prefix="nudge-bench-stats-") as tmp:  # ~5 GB at 10M
        for database, url in _databases(tmp, databases):
            small = await _one_size(client, database, url, SMALL, requests, explain)
            big = await _one_size(client, database, url, n_tasks, requests, explain)
            p95, small_p95 = big["rows"]["all"][1], small["rows"]["all"][1]
            ratio = p95 / small_p95
            results.add(
                Row(
                    f"all-time stats p95, {database}, {n_tasks:,} tasks / 100k contacts / 500 "
                    "rules",
                    p95,
                    "ms",
                    f"p95 ≤ {LIMIT_MS} ms and ≤ 2x the {SMALL:,}-task p95",
                    p95 <= LIMIT_MS and ratio <= 2,
                    small_p95,
                    f"the same at {SMALL:,} tasks",
                    ratio,
                    {
                        "median_ms": round(big["rows"]["all"][0], 1),
                        "small_median_ms": round(small["rows"]["all"][0], 1),
                        "week_p50_p95_ms": [round(x, 1) for x in big["rows"]["week"]],
                        "healthz_p50_p95_ms": [round(x, 1) for x in big["rows"]["healthz"]],
                        "fill_seconds": big["fill_seconds"],
                        "small_fill_seconds": small["fill_seconds"],
                        "requests": requests,
                        "rows": big["counts"],
                    },
                )
            )
