"""Starting sequences and writing their tasks, against the raw Temporal floor.

Both sides run on the same dev server, worker process and machine in the same run:
- start:  POST /schedule-sequence/ over HTTP (a preset, and a custom definition)  vs
          client.start_workflow of an empty workflow
- bulk:   one POST …/definitions/{id}/enroll/ of n contacts, to the job's completion (contacts/s)
          vs the same starts' floor rate
- write:  a workflow whose activity writes one task row  vs  one whose activity does nothing
"""

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.tasks import TaskActivities
from api.embedded import serve_api
from bench.common import say
from bench.floor import ActivityFloorWorkflow, FloorWorkflow, WriteTaskWorkflow, noop
from nudge.core.models import Contact
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.sequences.definition_schemas import DefinitionIn
from nudge.sequences.definitions import create_definition
from nudge.tasks.payloads import NewTask
from worker import build_worker


async def timed(n: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> list[float]:
    """Run op(0..n-1) with bounded concurrency; per-op latencies in seconds."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies


def summary(name: str, lat: list[float], wall: float) -> dict[str, float]:
    q = statistics.quantiles(lat, n=20)
    row = {"p50": statistics.median(lat) * 1000, "p95": q[18] * 1000, "rate": len(lat) / wall}
    say(f"  {name:<34} p50 {row['p50']:7.1f} ms  p95 {row['p95']:7.1f} ms  {row['rate']:7.1f}/s")
    return row


async def measure(n: int, concurrency: int, name: str, op) -> dict[str, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    lat = await timed(n, concurrency, op)
    return summary(name, lat, time.perf_counter() - start)


async def main(client: Client, n: int, concurrency: int) -> None:
    url = os.environ.get("NUDGE_BENCH_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='nudge-bench-')}/bench.db"
    )
    say(f"database: {url.split('@')[-1]}; n={n}, concurrency={concurrency}")
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with transaction(sessions) as session:
        owner, key = create_owner(session, f"bench-{uuid.uuid4().hex[:6]}")
        contacts = [
            Contact(owner_id=owner.id, external_id=f"b{i}", name=f"Contact {i}")
            for i in range(3 * n)
        ]
        session.add_all(contacts)
        session.flush()
        owner_id, contact_ids = owner.id, [c.id for c in contacts]
        # A custom sequence as users build them: a call, an email, a wait for its completion.
        title = "{{ step_number }}/{{ step_count }} {{ contact_name }}"
        definition_id = create_definition(session, owner.id, DefinitionIn.model_validate({
            "name": "bench",
            "steps": [
                {"kind": "call", "wait": {"days": 1}, "anchor": "enrollment",
                 "title_template": title},
                {"kind": "email", "wait": {"days": 2}, "title_template": title},
                {"kind": "todo", "wait": {"days": 1}, "anchor": "previous_completed",
                 "title_template": title},
            ],
        })).id  # fmt: skip

    queue = f"bench-{uuid.uuid4()}"
    tasks = TaskActivities(sessions)
    due = datetime.now(UTC) + timedelta(days=1)

    def new_task(i: int, tag: str) -> NewTask:
        return NewTask(
            idempotency_key=f"bench-{tag}-{queue}-{i}",
            owner_id=owner_id,
            contact_id=contact_ids[i],
            source="bench",
            title=f"Bench task {i}",
            due_at=due,
        )

    with ThreadPoolExecutor(16) as pool:
        nudge_worker = build_worker(client, sessions, task_queue=queue, executor=pool)
        floor_worker = Worker(
            client,
            task_queue=queue + "-floor",
            workflows=[FloorWorkflow, ActivityFloorWorkflow, WriteTaskWorkflow],
            activities=[noop, tasks.create_task],
            activity_executor=pool,
        )
        async with nudge_worker, floor_worker, serve_api(client, sessions, queue) as http:
            http.headers["Authorization"] = f"Bearer {key}"
            say("\nstarts")

            async def floor_start(i: int) -> None:
                await client.start_workflow(
                    FloorWorkflow.run, id=f"floor-{queue}-{i}", task_queue=queue + "-floor"
                )

            async def nudge_start(i: int) -> None:
                resp = await http.post(
                    "/api/task-automation/schedule-sequence/",
                    json={"contact_id": contact_ids[i], "sequence_type": "standard"},
                )
                assert resp.status_code == 201, resp.text

            async def custom_start(i: int) -> None:
                resp = await http.post(
                    "/api/task-automation/schedule-sequence/",
                    json={"contact_id": contact_ids[n + i], "definition_id": definition_id},
                )
                assert resp.status_code == 201, resp.text

            floor = await measure(n, concurrency, "raw start_workflow (floor)", floor_start)
            nudge = await measure(n, concurrency, "POST schedule-sequence", nudge_start)
            custom = await measure(n, concurrency, "POST schedule-sequence (custom)", custom_start)

            say("\nbulk enrollment (one request, to the job's completion)")
            started = time.perf_counter()
            resp = await http.post(
                f"/api/task-automation/sequences/definitions/{definition_id}/enroll/",
                json={"contact_ids": contact_ids[2 * n :]},
            )
            assert resp.status_code == 202, resp.text
            job_url = (
                f"/api/task-automation/sequences/definitions/{definition_id}/enroll-jobs/"
                f"{resp.json()['job_id']}/"
            )
            for _ in range(12_000):  # 10 minutes at most
                job = (await http.get(job_url)).json()
                if job["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - started
            assert job["enrolled"] == n, job
            bulk = {"rate": n / wall}
            say(f"  {'bulk enroll':<34} {n} contacts in {wall:.1f} s  {bulk['rate']:7.1f}/s")

            say("\ntask writes (one workflow + one activity each, to completion)")

            def run_with(wf, tag: str):  # type: ignore[no-untyped-def]
                async def op(i: int) -> None:
                    await client.execute_workflow(
                        wf, new_task(i, tag), id=f"{tag}-{queue}-{i}", task_queue=queue + "-floor"
                    )

                return op

            floor_w = await measure(
                n, concurrency, "no-op activity (floor)", run_with(ActivityFloorWorkflow.run, "f")
            )
            nudge_w = await measure(
                n, concurrency, "create_task activity", run_with(WriteTaskWorkflow.run, "w")
            )

    print("\nratio to the raw Temporal floor (1.00 = no overhead; latency: lower is better)")
    print(f"{'measurement':<28}{'p50':>8}{'p95':>8}{'throughput':>12}")
    for name, ours, base in (
        ("schedule a sequence", nudge, floor),
        ("schedule a custom sequence", custom, floor),
        ("write a task", nudge_w, floor_w),
    ):
        print(
            f"{name:<28}{ours['p50'] / base['p50']:>7.2f}x{ours['p95'] / base['p95']:>7.2f}x"
            f"{ours['rate'] / base['rate']:>11.2f}x"
        )
    print(f"{'bulk enrollment':<28}{'':>8}{'':>8}{bulk['rate'] / floor['rate']:>11.2f}x")
