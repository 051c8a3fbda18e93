"""`python -m bench` (or `make bench`): every benchmark, one process, one Temporal server."""

import argparse
import asyncio

from bench.sequences import main

parser = argparse.ArgumentParser(
    prog="python -m bench",
    description="Measure Nudge against the raw Temporal floor on one dev server, in one run, "
    "and print the ratios. Set NUDGE_BENCH_DATABASE_URL to measure on PostgreSQL.",
)
parser.add_argument("-n", type=int, default=200, help="operations per measurement (default 200)")
parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
args = parser.parse_args()
asyncio.run(main(args.n, args.concurrency))
