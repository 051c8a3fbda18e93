"""The overdue sweep at scale: N open tasks, a tenth of them past due + grace, one run of the
periodic job's overdue step (PeriodicJobWorkflow "escalate_overdue", the page size the
schedules use) on Nudge's worker, to its end.

Measured: the run's wall time (target ≤ 60 s), its history (runs in the continue-as-new chain
and the most events in one run: bounded), and the escalations (exactly one urgent task per
late task, none written again by a second run). The floor beside it: the same number of rows
written by one INSERT … SELECT, what the database alone needs to hold them.
"""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select, text
from temporalio.client import Client

from bench.common import Results, Row, say
from bench.stage import bench_database
from bench.stats_data import loading
from nudge.core.models import Contact, Rule, Task
from nudge.core.vocabulary import OVERDUE_SOURCE
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.platform.settings import Settings
from worker import build_worker
from workflows.periodic import PeriodicJobWorkflow

CONTACTS = 10_000
GRACE_HOURS = 24
# Every tenth task is two days past due (beyond the grace); the rest are due within a month.
TASKS = """
INSERT INTO tasks (owner_id, contact_id, title, description, priority, status, due_at,
    source, idempotency_key, reminder_status, created_at)
SELECT :owner, :contact0 + i % :contacts, 'Call back #' || i, '', 'medium', 'open',
    {due}, 'bench', :key || i, 'none', {created}
FROM {series}
"""
SERIES = {
    "postgresql": "generate_series(1, :n) AS s(i)",
    "sqlite": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n)"
    " SELECT i FROM s) AS s",
}


def _sql(dialect: str) -> str:
    due = "CASE WHEN i % 10 = 0 THEN :now - 172800 ELSE :now + 3600 * (1 + i % 720) END"
    if dialect == "postgresql":
        return TASKS.format(
            series=SERIES[dialect],
            due=f"to_timestamp({due})",
            created="to_timestamp(:now - 259200)",
        )
    ts = "datetime({}, 'unixepoch') || '.000000'"  # the text SQLAlchemy writes for naive UTC
    return TASKS.format(
        series=SERIES[dialect], due=ts.format(due), created=ts.format(":now - 259200")
    )


def _fill(engine: Engine, n: int) -> tuple[int, float]:
    """An owner with contacts, an overdue rule, and n open tasks; (owner, insert seconds)."""
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        owner, _ = create_owner(session, f"sweep-{uuid.uuid4().hex[:6]}")
        session.execute(
            insert(Contact),
            [
                {"owner_id": owner.id, "external_id": f"s{i}", "name": f"Contact {i}"}
                for i in range(CONTACTS)
            ],
        )
        session.add(
            Rule(
                owner_id=owner.id,
                name="Escalate",
                trigger_type="overdue",
                trigger_config={},
                task_title_template="Overdue: call {{ contact_name }}",
            )
        )
        contact0 = session.scalar(select(func.min(Contact.id)).where(Contact.owner_id == owner.id))
        owner_id = owner.id
    began = time.perf_counter()
    with loading(engine) as conn:  # secondary indexes off, built again after
        now = int(datetime.now(UTC).timestamp())
        params = {"owner": owner_id, "contact0": contact0, "contacts": CONTACTS, "n": n}
        conn.execute(text(_sql(engine.dialect.name)), params | {"key": "sweep-", "now": now})
        conn.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return owner_id, time.perf_counter() - began


def _escalations(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        mine = Task.source == OVERDUE_SOURCE
        rows = conn.scalar(select(func.count()).where(mine)) or 0
        keys = conn.scalar(select(func.count(func.distinct(Task.idempotency_key))).where(mine))
        return rows, keys or 0


async def main(client: Client, results: Results, n: int, limit: float) -> None:
    """`limit`: seconds the run may take before it is stopped and its rate extrapolated."""
    late = n // 10
    url = bench_database()
    say(f"\n== overdue sweep: {n:,} open tasks, {late:,} past due + grace; {url.split('@')[-1]}")
    upgrade(url)
    engine = make_engine(url)
    _, fill_s = _fill(engine, n)
    say(f"  filled in {fill_s:.1f} s")
    page = Settings().sweep_page_size
    queue = f"sweep-{uuid.uuid4().hex[:8]}"
    sessions = make_session_factory(engine)
    details: dict[str, object] = {"page_size": page, "stopped_after_s": None}
    with ThreadPoolExecutor(16, thread_name_prefix="activity") as pool:
        worker = build_worker(
            client, sessions, task_queue=queue, executor=pool, overdue_grace_hours=GRACE_HOURS
        )
        async with worker:
            began = time.perf_counter()
            handle = await client.start_workflow(
                PeriodicJobWorkflow.run,
                args=["escalate_overdue", page],
                id=f"sweep-{queue}",
                task_queue=queue,
            )
            try:
                first = await asyncio.wait_for(handle.result(), limit)
                seconds = time.perf_counter() - began
                acted = first.acted
            except TimeoutError:
                await handle.terminate("the benchmark's time limit")
                done, _ = await asyncio.to_thread(_escalations, engine)
                seconds = late / (done / limit) if done else float("inf")
                acted = -1
                details["stopped_after_s"] = limit
                details["escalated_when_stopped"] = done
                say(f"  stopped after {limit:.0f} s with {done:,} of {late:,} escalated: "
                    f"{done / limit:.0f}/s, so ~{seconds:.0f} s for all")  # fmt: skip
            else:
                say(f"  one run: {acted:,} escalated of {first.examined:,} in {seconds:.1f} s")
            runs, most = 0, 0
            async for run in client.list_workflows(f'WorkflowId = "{handle.id}"'):
                events = await client.get_workflow_handle(
                    handle.id, run_id=run.run_id
                ).fetch_history()
                runs, most = runs + 1, max(most, len(events.events))
            rows, keys = await asyncio.to_thread(_escalations, engine)
            second = 0
            if acted >= 0:
                second = (
                    await client.execute_workflow(
                        PeriodicJobWorkflow.run,
                        args=["escalate_overdue", page],
                        id=f"sweep-again-{queue}",
                        task_queue=queue,
                    )
                ).acted
    again_rows, _ = await asyncio.to_thread(_escalations, engine)
    engine.dispose()
    finished = acted >= 0
    exact = rows == keys == again_rows and (not finished or rows == late == acted) and second == 0
    say(f"  {runs} run(s) in the continue-as-new chain, at most {most} events in one; urgent "
        f"tasks {rows:,} ({keys:,} keys); second run wrote {second}")  # fmt: skip
    details |= {
        "runs": runs,
        "most_events_in_a_run": most,
        "urgent_tasks": rows,
        "distinct_keys": keys,
        "second_run_wrote": second,
        "exactly_once": exact,
    }
    results.add(
        Row(
            f"overdue sweep, {n:,} open tasks / {late:,} overdue: one run"
            + ("" if finished else " (extrapolated)"),
            seconds,
            "s",
            "≤ 60 s, history bounded, each escalated once",
            finished and seconds <= 60 and exact and most < 2000,
            fill_s,
            f"INSERT … SELECT of the {n:,} rows",
            seconds / fill_s if fill_s else None,
            details,
        )
    )
