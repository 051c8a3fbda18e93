"""`python -m bench` (`make bench`, `make bench-quick`): every row of issue 13's targets
table, each beside its floor measured in the same run on the same machine, with the ratio,
the target and whether it is met. Progress goes to stderr, the rows to stdout, and the run to
bench/results/<name>.json (latest.json for the full run) with the machine it ran on."""

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench import events, memory, scale, sequences, server, stats, sweep
from bench.common import RESULTS, Results, dev_server, say
from bench.stage import stage

ROWS = ("sequences", "events", "lateness", "stats", "memory", "server", "sweep")
# Sizes of the full run (`make bench`, under 15 minutes on 2 cores) and the quick one
# (`make bench-quick`, under 3). Each is a flag too.
FULL: dict[str, Any] = {
    "n": 200,
    "concurrency": 20,
    "written": 300,
    "lateness_firings": 1000,
    "lateness_seconds": 60.0,
    "stats_tasks": 1_000_000,
    "stats_requests": 40,
    "databases": "sqlite,postgresql",
    "sequences": 10_000,
    "caches": "1000",
    "server_n": 200,
    "sweep_tasks": 1_000_000,
    "sweep_limit": 90.0,
}
QUICK: dict[str, Any] = FULL | {
    "n": 60,
    "written": 60,
    "lateness_firings": 100,
    "lateness_seconds": 10.0,
    "stats_tasks": 100_000,
    "stats_requests": 20,
    "sequences": 500,
    "server_n": 60,
    "sweep_tasks": 20_000,
    "sweep_limit": 60.0,
}

parser = argparse.ArgumentParser(
    prog="python -m bench",
    formatter_class=argparse.RawDescriptionHelpFormatter,
    description=__doc__,
    epilog="""rows (ROW, or `all` for every one; `scale` is extra, not in `all`):
  sequences  POST /schedule-sequence/ throughput vs raw start_workflow of SequenceWorkflow
  events     POST /api/events/activities/ → firing started vs raw start of RuleFiringWorkflow;
             event → task row written (tiny rule delay) vs a timer + no-op activity workflow
  lateness   rule firings spread over a span: task created_at minus due, p50/p99/max
  stats      all-time GET stats p95 at --stats-tasks and at 10k, SQLite and PostgreSQL
             (NUDGE_BENCH_DATABASE_URL, default postgresql+psycopg2://postgres@127.0.0.1:5432/
             nudge_bench: its schema is dropped)
  memory     RSS of a `nudge worker` holding --sequences open sequences, per --caches size
  server     `nudge up`'s file-backed Temporal dev server vs the in-memory one
  sweep      the overdue sweep over --sweep-tasks open tasks, a tenth of them overdue
  scale      events over two `nudge api` → tasks, with 1 then 3 `nudge worker` processes

The request-path rows, memory and sweep run on NUDGE_BENCH_DATABASE_URL, else a fresh SQLite
file. The dev servers listen on ports 18200-18212.

examples:
  make bench                         # every row at full size (< 15 min), results/latest.json
  make bench-quick                   # every row small (< 3 min), results/quick.json
  python -m bench memory --sequences 10000 --caches 0,1000,10000
  python -m bench stats --stats-tasks 10000000 --databases postgresql""",
)
parser.add_argument("row", nargs="?", default="all", choices=("all", *ROWS, "scale"))
parser.add_argument("--quick", action="store_true", help="small sizes (what make bench-quick runs)")
parser.add_argument("--out", type=Path, help="results file (default bench/results/<name>.json)")
sizes = parser.add_argument_group("sizes (defaults: full run / --quick)")


def size(flag: str, kind: type, what: str) -> None:
    key = flag.lstrip("-").replace("-", "_")
    sizes.add_argument(flag, type=kind, help=f"{what} ({FULL[key]} / {QUICK[key]})")


size("-n", int, "starts per side in sequences and events")
size("--concurrency", int, "requests in flight")
size("--written", int, "events → task rows per side")
size("--lateness-firings", int, "rule firings per side in lateness")
size("--lateness-seconds", float, "the span they are spread over")
size("--stats-tasks", int, "tasks of the big stats fill")
size("--stats-requests", int, "sequential stats requests per measurement")
size("--databases", str, "stats databases, comma-separated")
size("--sequences", int, "open sequences the memory row's worker holds")
size("--caches", str, "max_cached_workflows sizes to try, comma-separated")
size("--server-n", int, "workflow + activity round trips per server")
size("--sweep-tasks", int, "open tasks of the sweep row (a tenth overdue)")
size("--sweep-limit", float, "seconds before the sweep is stopped and extrapolated")
sizes.add_argument("--explain", action="store_true", help="stats: plans and per-statement times")
sizes.add_argument("--events", type=int, default=2000, help="scale: events per setup (2000)")
sizes.add_argument("--in-flight", type=int, default=16, help="scale: requests in flight (16)")


def _sizes(args: argparse.Namespace) -> dict[str, Any]:
    base = QUICK if args.quick else FULL
    return {key: getattr(args, key) if getattr(args, key) is not None else v
            for key, v in base.items()}  # fmt: skip


async def run(args: argparse.Namespace, s: dict[str, Any], results: Results) -> None:
    wanted = set(ROWS) if args.row == "all" else {args.row}
    if "server" in wanted:  # first: its two servers start fresh, before the main one is busy
        await server.main(results, s["server_n"], s["concurrency"])
    async with dev_server() as client:
        if wanted & {"sequences", "events", "lateness"}:
            contacts = max(3 * s["n"], s["written"], 100)
            async with stage(client, contacts) as st:
                if "sequences" in wanted:
                    await sequences.main(st, results, s["n"], s["concurrency"])
                if "events" in wanted:
                    await events.started(st, results, s["n"], s["concurrency"])
                    await events.written(st, results, s["written"], s["concurrency"])
                if "lateness" in wanted:
                    await events.lateness(st, results, s["lateness_firings"], s["lateness_seconds"])
        if "sweep" in wanted:
            await sweep.main(client, results, s["sweep_tasks"], s["sweep_limit"])
        if "memory" in wanted:
            caches = [int(c) for c in str(s["caches"]).split(",")]
            await memory.main(client, results, s["sequences"], caches)
        if "stats" in wanted:
            dbs = str(s["databases"]).split(",")
            await stats.main(
                client, results, s["stats_tasks"], s["stats_requests"], dbs, args.explain
            )
        if args.row == "scale":
            await scale.main(client, args.events, args.in_flight)
    if "stats" in wanted and s["stats_tasks"] < 10_000_000:
        results.note(
            f"stats measured at {s['stats_tasks']:,} tasks, not the 10M of the target: filling "
            "10M on both databases does not fit this run's time budget (python -m bench stats "
            "--stats-tasks 10000000 runs it alone)"
        )


def main() -> None:
    args = parser.parse_args()
    s = _sizes(args)
    name = "quick" if args.quick else ("latest" if args.row == "all" else args.row)
    results = Results("quick" if args.quick else "full", s)
    began = time.perf_counter()
    say(f"python -m bench {args.row}{' --quick' if args.quick else ''}: {s}")
    asyncio.run(run(args, s, results))
    if args.row != "scale":
        results.finish(args.out or RESULTS / f"{name}.json")
    say(f"done in {(time.perf_counter() - began) / 60:.1f} min")


main()
