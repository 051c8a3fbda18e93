"""Each statement of the stats endpoint alone: its plan (flagged when it reads the tasks table
without an index) and its time, so a slow figure can be told from a slow endpoint."""

import re
import statistics
import time

from sqlalchemy import CompoundSelect, Engine, Select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from nudge.platform.db import make_session_factory
from nudge.reporting.stats import Window, compute, explained

PREFIX = {"postgresql": "EXPLAIN (ANALYZE, BUFFERS)", "sqlite": "EXPLAIN QUERY PLAN"}
# A full read of the big table; SQLite names its index when it uses one ("SCAN tasks USING …").
FULL_SCAN = {
    "postgresql": re.compile(r"Seq Scan on tasks\b"),
    "sqlite": re.compile(r"\bSCAN tasks(?! USING)"),
}


class _Explain(Executable, ClauseElement):
    """EXPLAIN with the statement's own bound parameters, for a type that has no literal form."""

    inherit_cache = False

    def __init__(self, prefix: str, stmt: Select | CompoundSelect) -> None:
        self.prefix, self.stmt = prefix, stmt


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler, **kw) -> str:  # type: ignore[no-untyped-def]
    return f"{element.prefix} {compiler.process(element.stmt, **kw)}"


def _plan(engine: Engine, stmt: Select | CompoundSelect, *, no_seqscan: bool = False) -> list[str]:
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if no_seqscan:  # SET LOCAL: this transaction only, rolled back below
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        try:
            literal = stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            rows = conn.exec_driver_sql(f"{PREFIX[dialect]} {literal}").all()
        except CompileError:
            rows = conn.execute(_Explain(PREFIX[dialect], stmt)).all()
        conn.rollback()  # EXPLAIN ANALYZE runs the statement; leave nothing open
    if dialect == "postgresql":
        return [row[0] for row in rows]
    depth = {0: -1}  # SQLite: (id, parent, _, detail) rows; indent children under parents
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def explain(engine: Engine, window: Window, only: list[str] | None = None) -> list[str]:
    """Print every statement's plan (or `only` these); returns the names of those that scan
    tasks in full."""
    dialect = engine.dialect.name
    scans = []
    print(f"\n{PREFIX[dialect]} of every stats statement ({dialect}, owner {window.owner_id}):")
    for name, stmt in explained(window, dialect).items():
        if only is not None and name not in only:
            continue
        print(f"\n  -- {name}")
        for line in _plan(engine, stmt):
            if FULL_SCAN[dialect].search(line):
                scans.append(name)
                line += "    <<<<<<<<<< FULL SCAN OF tasks: NO INDEX USED"
            elif dialect == "sqlite" and line.strip().startswith("SEARCH tasks USING INDEX"):
                line += "    <-- not covering: a table lookup per index entry"
            print(f"     {line}")
        if name in scans and dialect == "postgresql":
            # Was the planner right? The same statement with sequential scans priced out.
            print("     ~~ the same with enable_seqscan = off, for comparison:")
            for line in _plan(engine, stmt, no_seqscan=True):
                print(f"     {line}")
    for name in scans:
        print(f"\n!!!!! {name}: reads the whole tasks table (no index) !!!!!")
    return scans


def timings(engine: Engine, windows: dict[str, Window], runs: int = 5) -> dict[str, list[float]]:
    """Median ms of each statement run alone, per window, after one warm-up run."""
    dialect = engine.dialect.name
    table: dict[str, list[float]] = {}
    with engine.connect() as conn:
        for window in windows.values():
            for name, stmt in explained(window, dialect).items():
                conn.execute(stmt).all()
                seconds = []
                for _ in range(runs):
                    start = time.perf_counter()
                    conn.execute(stmt).all()
                    seconds.append(time.perf_counter() - start)
                table.setdefault(name, []).append(statistics.median(seconds) * 1000)
    print(f"\neach statement alone ({dialect}; median of {runs}, ms):")
    print(f"  {'statement':<28}" + "".join(f"{label:>14}" for label in windows))
    for name, ms in table.items():
        print(f"  {name:<28}" + "".join(f"{m:>14.1f}" for m in ms))
    sums = (sum(col) for col in zip(*table.values(), strict=True))
    print(f"  {'sum':<28}" + "".join(f"{total:>14.1f}" for total in sums))
    # The whole of compute(): every statement above, the medians of all rules included.
    sessions = make_session_factory(engine)
    whole = []
    for window in windows.values():
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            with sessions() as session:
                compute(session, window)
            seconds.append(time.perf_counter() - start)
        whole.append(statistics.median(seconds) * 1000)
    print(f"  {'compute() in all':<28}" + "".join(f"{m:>14.1f}" for m in whole))
    return table
