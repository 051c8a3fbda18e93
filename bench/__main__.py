"""`python -m bench [sequences|stats|scale|all]` (or `make bench`): one Temporal server per run."""

import argparse
import asyncio

from bench import scale, sequences, stats
from bench.common import dev_server

parser = argparse.ArgumentParser(
    prog="python -m bench",
    description="Measure Nudge against raw floors measured in the same run, on one Temporal dev "
    "server, and print the ratios. Without a benchmark name, runs all of them.",
)
commands = parser.add_subparsers(dest="benchmark", metavar="{sequences,stats,scale,all}")

seq_opts = argparse.ArgumentParser(add_help=False)
seq_opts.add_argument("-n", type=int, default=200, help="operations per measurement (default 200)")
seq_opts.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")

stats_opts = argparse.ArgumentParser(add_help=False)
stats_opts.add_argument(
    "--tasks", type=int, default=1_000_000, help="tasks to fill (default 1,000,000)"
)
stats_opts.add_argument(
    "--stats-requests", type=int, default=30, help="stats requests per measurement (default 30)"
)

scale_opts = argparse.ArgumentParser(add_help=False)
scale_opts.add_argument(
    "--events", type=int, default=2000, help="CRM events per setup (default 2,000)"
)
scale_opts.add_argument(
    "--in-flight", type=int, default=16, help="event requests in flight (default 16)"
)

commands.add_parser(
    "sequences",
    parents=[seq_opts],
    help="POST schedule-sequence and one task write vs raw start_workflow / a no-op activity; "
    "on NUDGE_BENCH_DATABASE_URL, else a temporary SQLite file",
)
commands.add_parser(
    "stats",
    parents=[stats_opts],
    help="GET stats over 1M tasks, 10k contacts, 100 rules on SQLite and PostgreSQL "
    "(NUDGE_BENCH_DATABASE_URL, default postgresql+psycopg2://postgres@127.0.0.1:5432/"
    "nudge_bench, whose schema it drops): median/p95 vs /healthz, count(*), count_workflows; "
    "EXPLAIN of every statement",
)
commands.add_parser(
    "scale",
    parents=[scale_opts],
    help="N activity events over two `nudge api` processes → N tasks, with 1 and then 3 "
    "`nudge worker` processes (events/s, tasks/s, exact counts) vs raw start_workflow; on "
    "NUDGE_BENCH_DATABASE_URL, else a temporary SQLite file",
)
commands.add_parser(
    "all",
    parents=[seq_opts, stats_opts, scale_opts],
    help="sequences, stats, then scale (default)",
)


async def run(args: argparse.Namespace) -> None:
    async with dev_server() as client:
        if args.benchmark in ("sequences", "all"):
            await sequences.main(client, args.n, args.concurrency)
        if args.benchmark in ("stats", "all"):
            await stats.main(client, args.tasks, args.stats_requests)
        if args.benchmark in ("scale", "all"):
            await scale.main(client, args.events, args.in_flight)


args = parser.parse_args()
if args.benchmark is None:
    args = parser.parse_args(["all"])
asyncio.run(run(args))
