"""What every benchmark shares: progress lines, latency figures, the Temporal dev servers,
and the rows of issue 13's targets table (each printed as it is measured, all of them
written to bench/results/latest.json with the machine they ran on)."""

import asyncio
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import temporalio
from sqlalchemy import create_engine, text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from nudge.platform.binaries import find_binary
from nudge.platform.temporal import DATA_CONVERTER, SEARCH_ATTRIBUTES

RESULTS = Path(__file__).parent / "results"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/nudge_bench"
# The benchmark's own ports (gRPC; the dev servers' web UI is off): the main server, the
# pair `nudge up`'s file-backed server is compared on, and the stage's `nudge api`.
MAIN_PORT, MEMORY_PORT, FILE_PORT, API_PORT = 18200, 18210, 18212, 18220


def say(line: str) -> None:
    """Progress goes to stderr, so stdout holds only the results."""
    print(line, file=sys.stderr, flush=True)


def p50_p95(seconds: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    p95 = statistics.quantiles(seconds, n=20)[18] if len(seconds) > 1 else seconds[0]
    return statistics.median(seconds) * 1000, p95 * 1000


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest rank: p99 of 1,000 is the 990th value."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def timed(
    n: int, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> tuple[list[float], float]:
    """op(0..n-1) with at most `concurrency` in flight: per-op latencies (s) and the wall time."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, time.perf_counter() - began


async def shifted(op: Callable[[int], Awaitable[object]], offset: int, i: int) -> None:
    """op(offset + i): the second half of a measurement split in halves."""
    await op(offset + i)


@dataclass
class Side:
    """One side of a comparison, its halves together: every op's latency and the wall time
    (seconds)."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


async def alternated(
    first: str,
    second: str,
    half: int,
    noun: str,
    measure: Callable[[str, int], Awaitable[tuple[list[float], float]]],
) -> dict[str, Side]:
    """Each side measured in two halves of `half` ops, run first, second, second, first so
    drift on a shared machine cancels out. measure(side, offset) runs one half (offset 0,
    then `half`) and returns what `timed` does."""
    sides = {first: Side(), second: Side()}
    for side, offset in ((first, 0), (second, 0), (second, half), (first, half)):
        latencies, took = await measure(side, offset)
        sides[side].latencies += latencies
        sides[side].seconds += took
        counted = f"{half} {noun}" if noun else str(half)
        say(f"  {side:<6} {counted} in {took:5.2f} s ({half / took:6.1f}/s)")
    return sides


@asynccontextmanager
async def dev_server(
    port: int = MAIN_PORT, db_file: str | None = None, extra: list[str] | None = None
) -> AsyncIterator[Client]:
    """A dev server on one of our ports with our search attributes (in memory unless
    `db_file`)."""
    say(f"starting a Temporal dev server on :{port}" + (f" ({db_file})" if db_file else ""))
    # The server prints its banner on the stdout it inherits: give it stderr, which holds
    # the progress, and keep stdout for the results.
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        env = await WorkflowEnvironment.start_local(
            port=port,
            dev_server_existing_path=find_binary("temporal"),
            dev_server_database_filename=db_file,
            dev_server_extra_args=extra or [],
            data_converter=DATA_CONVERTER,
            search_attributes=SEARCH_ATTRIBUTES,
        )
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)
    try:
        yield env.client
    finally:
        await env.shutdown()


# ------------------------------------------------------------------ rows of the targets table


@dataclass
class Row:
    """One row of the targets table: Nudge's figure, the floor measured beside it, the ratio,
    and whether the target is met (None: measured, but no target to meet)."""

    what: str
    nudge: float
    unit: str
    target: str
    met: bool | None
    floor: float | None = None
    floor_name: str = ""
    ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        def fig(x: float) -> str:
            return f"{x:,.1f} {self.unit}" if abs(x) < 1000 else f"{x:,.0f} {self.unit}"

        floor = f"  floor {fig(self.floor)} ({self.floor_name})" if self.floor is not None else ""
        ratio = f"  ratio {self.ratio:.2f}x" if self.ratio is not None else ""
        verdict = {True: "MET", False: "NOT MET", None: "(no target)"}[self.met]
        return (
            f"{self.what}: Nudge {fig(self.nudge)}{floor}{ratio}  target {self.target}: {verdict}"
        )


def throughput_row(what: str, nudge: float, floor: float, floor_name: str, **details: Any) -> Row:
    """Higher is better; the target is 0.9x the floor measured in the same run."""
    ratio = nudge / floor if floor else float("nan")
    return Row(what, nudge, "/s", "≥ 0.9x floor", ratio >= 0.9, floor, floor_name, ratio, details)


async def in_flight_row(
    what: str,
    ops: dict[str, Callable[[int], Awaitable[object]]],
    n: int,
    concurrency: int,
    floor_name: str,
    noun: str = "",
    **details: Any,
) -> Row:
    """ops["floor"] and ops["nudge"], n calls each with `concurrency` in flight, alternated
    (see `alternated`): their throughputs as a row, with each side's p50 and p95 latency."""
    half = n // 2
    sides = await alternated(
        "floor",
        "nudge",
        half,
        noun,
        lambda side, offset: timed(half, concurrency, partial(shifted, ops[side], offset)),
    )
    p = {side: p50_p95(s.latencies) for side, s in sides.items()}
    return throughput_row(
        what,
        sides["nudge"].rate,
        sides["floor"].rate,
        floor_name,
        p50_ms=round(p["nudge"][0], 1),
        p95_ms=round(p["nudge"][1], 1),
        floor_p50_ms=round(p["floor"][0], 1),
        floor_p95_ms=round(p["floor"][1], 1),
        n=n,
        concurrency=concurrency,
        **details,
    )


@dataclass
class Results:
    """Every row of this run, printed as it comes and written at the end."""

    mode: str
    sizes: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(row.line(), flush=True)
        return row

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"note: {line}", flush=True)

    def finish(self, path: Path) -> None:
        seconds = time.perf_counter() - self.started
        print(f"\n==== issue 13 targets ({self.mode}, {seconds / 60:.1f} min) ====")
        for row in self.rows:
            print(row.line())
        for line in self.notes:
            print(f"note: {line}")
        met = sum(row.met is True for row in self.rows)
        print(f"{met} of {sum(row.met is not None for row in self.rows)} targets met")
        body = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": self.mode,
            "seconds": round(seconds, 1),
            "machine": machine(),
            "sizes": self.sizes,
            "rows": [asdict(row) for row in self.rows],
            "notes": self.notes,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        say(f"results written to {path}")


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except OSError as err:
        return f"unknown ({err})"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def _postgres_version() -> str:
    url = os.environ.get("NUDGE_BENCH_DATABASE_URL") or DEFAULT_PG
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = str(conn.scalar(text("SHOW server_version")))
        engine.dispose()
        return version
    except Exception as err:  # described, not raised
        return f"unreachable ({type(err).__name__})"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    meminfo = Path("/proc/meminfo")
    ram = "?"
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "cores": os.cpu_count(),
        "ram": ram,
        "cpu": platform.processor() or platform.machine(),
        "os": platform.platform(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "temporal_cli": _first_line([find_binary("temporal"), "--version"]),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
    }
