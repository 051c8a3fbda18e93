"""CRM activity events against raw Temporal floors, on one server, in one run.

- started:  POST /api/events/activities/ matching one rule (delay 24 h, so the firing only
            waits) → 201 with its firing workflow started   vs   `start_rule_firing` of the
            same RuleFiringWorkflow straight on the client; 20 in flight, halves alternated.
- written:  N events matching a rule with a tiny delay, 20 in flight, until N task rows exist
            (tasks/s)   vs   N TimerFloorWorkflows (one timer of the same delay, one no-op
            activity) until all have finished.
- lateness: N events spread evenly over S seconds (below saturation), rule delay D: each task
            row's created_at minus its firing's create_at (when the timer was due)   vs   the
            same pace of TimerFloorWorkflows, whose activity reports how late it started.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    Results,
    Row,
    in_flight_row,
    percentile,
    say,
    throughput_row,
    timed,
)
from bench.floor import Due, TimerFloorWorkflow
from bench.stage import Stage
from nudge.core.models import RuleFiring, Task, utcnow
from nudge.rules.payloads import FiringInput
from nudge.rules.starts import start_rule_firing

EVENTS = "/api/events/activities/"
RULES = "/api/task-automation/rules/"
FIRING_DELAY = 0.0001  # hours: 0.36 s, a real timer but no wait worth measuring
LATENESS_DELAY = 3 / 3600  # hours: each firing's timer is set well after its request ended


async def _rule(stage: Stage, activity_type: str, delay_hours: float) -> int:
    resp = await stage.http.post(
        RULES,
        json={
            "name": f"bench {activity_type}",
            "trigger_type": "activity",
            "trigger_config": {"activity_types": [activity_type]},
            "task_title_template": "Follow up with {{contact_name}}",
            "task_priority": "high",
            "delay_hours": delay_hours,
            "is_active": True,
        },
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _event(stage: Stage, activity_type: str) -> Callable[[int], Awaitable[None]]:
    tag = uuid.uuid4().hex[:8]

    async def send(i: int) -> None:
        body = {
            "event_id": f"{tag}-{i}",
            "contact_external_id": f"b{i % len(stage.contacts)}",
            "activity_type": activity_type,
        }
        resp = await stage.http.post(EVENTS, json=body)
        assert resp.status_code == 201, resp.text
        assert len(resp.json()["firings"]) == 1, resp.text

    return send


def _tasks_of(stage: Stage, rule_id: int) -> int:
    with stage.sessions() as session:
        return session.scalar(select(func.count()).where(Task.rule_id == rule_id)) or 0


async def _until_tasks(stage: Stage, rule_id: int, n: int, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    while (found := await asyncio.to_thread(_tasks_of, stage, rule_id)) < n:
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    return found


async def started(stage: Stage, results: Results, n: int, concurrency: int) -> None:
    say(f"\n== event → firing started: {n} each side, {concurrency} in flight")
    rule_id = await _rule(stage, "email_opened", 24)
    send = _event(stage, "email_opened")
    tag = uuid.uuid4().hex[:8]

    async def floor(i: int) -> None:
        now = utcnow()
        inp = FiringInput(
            firing_id=0,  # never read: the firing sleeps for a day
            rule_id=rule_id,
            owner_id=stage.owner_id,
            contact_id=stage.contacts[i % len(stage.contacts)],
            create_at=now + timedelta(hours=24),
            due_at=now + timedelta(hours=24),
        )
        await start_rule_firing(stage.client, stage.queue, inp, f"rule-bench-{tag}-{i}", "bench")

    results.add(
        await in_flight_row(
            "POST /api/events/activities/ (1 rule) → firing started, 20 in flight",
            {"floor": floor, "nudge": send},
            n,
            concurrency,
            "raw start_workflow of RuleFiringWorkflow",
        )
    )


async def written(stage: Stage, results: Results, n: int, concurrency: int) -> None:
    delay = FIRING_DELAY * 3600
    say(f"\n== event → task row written: {n} each side, {concurrency} in flight, delay {delay} s")
    tag = uuid.uuid4().hex[:8]

    began = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)

    async def floor_gated(i: int) -> float:
        async with gate:  # the start is gated; the wait for the timer is not
            due = Due(at=utcnow() + timedelta(seconds=delay))
            handle = await stage.client.start_workflow(
                TimerFloorWorkflow.run, due, id=f"timer-{tag}-{i}", task_queue=stage.floor_queue
            )
        return float(await handle.result())

    await asyncio.gather(*(floor_gated(i) for i in range(n)))
    floor_s = time.perf_counter() - began
    say(f"  floor  {n} timer+activity workflows done in {floor_s:5.2f} s ({n / floor_s:6.1f}/s)")

    rule_id = await _rule(stage, "email_clicked", FIRING_DELAY)
    send = _event(stage, "email_clicked")
    began = time.perf_counter()
    _, sent_s = await timed(n, concurrency, send)
    found = await _until_tasks(stage, rule_id, n, 300)
    nudge_s = time.perf_counter() - began
    say(f"  nudge  {n} events sent in {sent_s:5.2f} s; {found} task rows after {nudge_s:5.2f} s")
    results.add(
        throughput_row(
            "event → task row written (rule delay 0.36 s), sustained",
            n / nudge_s,
            n / floor_s,
            "one timer + one no-op activity",
            n=n,
            tasks_found=found,
            events_per_s=round(n / sent_s, 1),
        )
    )


async def _paced(n: int, span: float, op: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """op(i) at start + i * span / n, each in its own task."""
    began = time.perf_counter()

    async def one(i: int) -> Any:
        await asyncio.sleep(max(0.0, began + i * span / n - time.perf_counter()))
        return await op(i)

    return await asyncio.gather(*(one(i) for i in range(n)))


def _lateness_of(stage: Stage, rule_id: int) -> list[float]:
    with stage.sessions() as session:
        rows = session.execute(
            select(Task.created_at, RuleFiring.create_at)
            .join(RuleFiring, RuleFiring.task_id == Task.id)
            .where(RuleFiring.rule_id == rule_id)
        ).all()
    return [(created - due).total_seconds() for created, due in rows]


def _figures(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


async def lateness(stage: Stage, results: Results, n: int, span: float) -> None:
    delay = LATENESS_DELAY * 3600
    say(f"\n== timer lateness: {n} firings spread over {span:.0f} s each side, delay {delay} s")
    tag = uuid.uuid4().hex[:8]

    async def floor(i: int) -> float:
        due = Due(at=utcnow() + timedelta(seconds=delay))
        handle = await stage.client.start_workflow(
            TimerFloorWorkflow.run, due, id=f"late-{tag}-{i}", task_queue=stage.floor_queue
        )
        return float(await handle.result())

    floor_late = _figures(await _paced(n, span, floor))
    say(f"  floor  {floor_late}")
    rule_id = await _rule(stage, "form_submitted", LATENESS_DELAY)
    await _paced(n, span, _event(stage, "form_submitted"))
    found = await _until_tasks(stage, rule_id, n, 120)
    late = await asyncio.to_thread(_lateness_of, stage, rule_id)
    nudge_late = _figures(late)
    say(f"  nudge  {nudge_late} ({found} tasks)")
    p99, floor_p99 = nudge_late["p99_ms"], floor_late["p99_ms"]
    results.add(
        Row(
            f"timer lateness p99, {n} rule firings over {span:.0f} s",
            p99,
            "ms",
            "p99 ≤ 250 ms",
            p99 <= 250 and found == n,
            floor_p99,
            "timer + no-op activity, same pace",
            p99 / floor_p99 if floor_p99 > 0 else None,
            {"nudge": nudge_late, "floor": floor_late, "n": n, "tasks_found": found},
        )
    )
