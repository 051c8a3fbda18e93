"""GET /api/task-automation/stats/ over a million tasks, on SQLite and on PostgreSQL.

Each database is filled (bench/stats_data.py), served by the real app on a real port, and
measured in the same run against three floors on the same server and process:
- HTTP + app:  GET /healthz
- database:    SELECT count(*) FROM tasks WHERE owner_id = :o, straight through SQLAlchemy
- Temporal:    one client.count_workflows (the endpoint asks four)
then every statement's plan and time alone (bench/stats_plans.py).
"""

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.embedded import serve_api
from bench.common import p50_p95, say
from bench.stats_data import fill, reset_postgres, row_counts
from bench.stats_plans import explain, timings
from nudge.core.models import utcnow
from nudge.platform.db import make_engine, make_session_factory
from nudge.platform.temporal import KIND, OWNER_ID
from nudge.reporting.stats import KINDS, Window

STATS = "/api/task-automation/stats/"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/nudge_bench"
WARMUPS = 3
T = TypeVar("T")


@dataclass
class Result:
    database: str
    fill_seconds: float
    rows: dict[str, tuple[float, float]]  # measurement → (median ms, p95 ms)
    full_scans: list[str]


async def _ticking(what: str, work: Awaitable[T]) -> T:
    """Await work, saying every 15 s that it is still going (one INSERT can take a while)."""
    task = asyncio.ensure_future(work)
    start = time.perf_counter()
    while not (await asyncio.wait({task}, timeout=15))[0]:
        say(f"  … {what}: {time.perf_counter() - start:.0f} s")
    return task.result()


async def _sample(n: int, op: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Sequential calls, so each latency is one request's alone."""
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
        for i in range(3):
            handles.append(
                await client.start_workflow(
                    "BenchIdle",
                    id=f"bench-idle-{kind}-{i}-{uuid.uuid4().hex[:8]}",
                    task_queue="bench-stats-idle",
                    search_attributes=attrs,
                )
            )
    return handles


def _databases(tmp: str) -> list[tuple[str, str]]:
    dbs = [("SQLite", f"sqlite:///{tmp}/stats.db")]
    url = os.environ.get("NUDGE_BENCH_DATABASE_URL") or DEFAULT_PG
    where = make_url(url).render_as_string(hide_password=True)
    if make_url(url).get_backend_name() != "postgresql":
        say(f"NUDGE_BENCH_DATABASE_URL is not PostgreSQL ({where}): SQLite only")
    elif reason := reset_postgres(url):
        say(f"PostgreSQL at {where} can't be reached ({reason}): SQLite only")
    else:
        dbs.append(("PostgreSQL", url))
    return dbs


def _figures(body: dict) -> str:
    tasks, running = body["tasks"], body["running"]
    return (
        f"{tasks['total']:,} tasks, {tasks['overdue']:,} overdue, by status {tasks['by_status']}, "
        f"{len(body['per_rule'])} rules, running {running}, workflows {body['running_workflows']}"
    )


async def _measure(
    client: Client, sessions: sessionmaker[Session], key: str, owner_id: int, requests: int
) -> dict[str, tuple[float, float]]:
    count_sql = text("SELECT count(*) FROM tasks WHERE owner_id = :o")
    visibility = f'NudgeOwnerId = "{owner_id}" AND NudgeKind = "sequence"'
    visibility += ' AND ExecutionStatus = "Running"'
    now = utcnow()
    week = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}

    async def raw_count() -> None:  # on the loop thread on purpose: no hop, the bare query
        with sessions() as session:
            session.scalar(count_sql, {"o": owner_id})

    async with serve_api(client, sessions, f"bench-stats-{uuid.uuid4()}") as http:
        http.headers["Authorization"] = f"Bearer {key}"
        say(f"  all tasks: {_figures(await _get(http, STATS))}")
        say(f"  7 days:    {_figures(await _get(http, STATS, week))}")
        rows = {
            "GET stats (all tasks)": await _sample(requests, lambda: _get(http, STATS)),
            "GET stats (7-day window)": await _sample(requests, lambda: _get(http, STATS, week)),
            "floor: GET /healthz": await _sample(requests, lambda: _get(http, "/healthz")),
            "floor: SELECT count(*) owner": await _sample(requests, raw_count),
            "floor: count_workflows": await _sample(
                requests, lambda: client.count_workflows(visibility)
            ),
        }
    for name, (p50, p95) in rows.items():
        say(f"  {name:<32} median {p50:8.1f} ms   p95 {p95:8.1f} ms")
    return rows


async def _one_database(
    client: Client, database: str, url: str, n_tasks: int, requests: int
) -> Result:
    say(f"\n== {database}: filling {n_tasks:,} tasks")
    start = time.perf_counter()
    filled = await _ticking(f"filling {database}", asyncio.to_thread(fill, url, n_tasks))
    fill_seconds = time.perf_counter() - start
    engine = make_engine(url)
    counts = row_counts(engine, filled.owner_id)
    say("  rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    assert counts["tasks of the measured owner"] == n_tasks, counts

    idle = await _idle_workflows(client, filled.owner_id)
    say(f"== {database}: measuring ({requests} sequential requests each, {WARMUPS} warm-ups)")
    sessions = make_session_factory(engine)
    rows = await _measure(client, sessions, filled.key, filled.owner_id, requests)
    await asyncio.gather(*(handle.terminate() for handle in idle))

    now = utcnow()
    windows = {
        "all tasks": Window.of(filled.owner_id, now, None, None),
        "7-day window": Window.of(filled.owner_id, now, now - timedelta(days=7), now),
    }
    print(f"\n==== {database}: {n_tasks:,} tasks, filled in {fill_seconds:.1f} s ====")
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    full_scans = explain(engine, windows["all tasks"])
    if full_scans:  # that owner holds 99 % of the table; for a typical owner, the index wins
        print(f"\n== the same for the small owner (1 % of the tasks): {', '.join(full_scans)}")
        explain(engine, Window.of(filled.small_owner_id, now, None, None), only=full_scans)
    timings(engine, windows)
    engine.dispose()
    return Result(database, fill_seconds, rows, full_scans)


def _report(result: Result) -> None:
    rows = result.rows
    print(f"\n{result.database}: latency over HTTP (sequential requests)")
    print(f"  {'measurement':<32}{'median':>10}{'p95':>10}")
    for name, (p50, p95) in rows.items():
        print(f"  {name:<32}{p50:>8.1f}ms{p95:>8.1f}ms")
    print("  stats median as a multiple of each floor (same run, same server):")
    for name in ("GET stats (all tasks)", "GET stats (7-day window)"):
        ratios = (
            f"{floor.removeprefix('floor: ')} {rows[name][0] / rows[floor][0]:6.1f}x"
            for floor in rows
            if floor.startswith("floor: ")
        )
        print(f"    {name:<28} " + "   ".join(ratios))


async def main(client: Client, n_tasks: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="nudge-bench-stats-") as tmp:  # ~0.5 GB at 1M
        results = [
            await _one_database(client, database, url, n_tasks, requests)
            for database, url in _databases(tmp)
        ]
    for result in results:
        _report(result)
    for result in results:
        scans = ", ".join(result.full_scans) or "none"
        print(f"\n{result.database}: filled in {result.fill_seconds:.1f} s; ", end="")
        print(f"statements reading all of tasks without an index: {scans}")
