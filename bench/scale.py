"""Scale-out on one machine: CRM events over HTTP → rule firings → tasks, with real processes.

One Temporal server, one database, two `nudge api` and K `nudge worker` processes (each a
`python -m nudge …` subprocess, as a deployment runs them). An owner (`nudge create-owner`),
contacts and one `activity` rule with a ~1 s delay are made through the CLI and the API; then
N events with distinct event ids go to the two APIs in turn, bounded in flight, every tenth
one to both APIs at once (a CRM redelivering through another replica). The run ends when N
tasks exist; the counts must then be exact: one event row, one firing, one task per event id.

`python -m bench scale` measures that with 1 worker and then with 3 (fresh task queue, owner
and processes each time, same server and database) against the raw Temporal floor measured
in the same run: bare `start_workflow` calls of a no-op workflow (bench/floor.py) at the same
concurrency. tests/e2e/test_scale_out.py drives the same pieces, with a worker killed mid-run.

Importing this module starts nothing.
"""

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from api.embedded import free_port
from bench.common import p50_p95, say
from bench.floor import FloorWorkflow
from nudge.core.models import CrmEvent, Rule, RuleFiring, Task
from nudge.platform.db import make_engine, make_session_factory
from nudge.platform.migrate import upgrade

RULES = "/api/task-automation/rules/"
EVENTS = "/api/events/activities/"
# ~1.1 s: each firing waits on a real timer before its activity writes the task.
DELAY_HOURS = 0.0003
RULE = {
    "name": "Scale-out follow-up",
    "trigger_type": "activity",
    "trigger_config": {"activity_types": ["email_opened"]},
    "task_title_template": "Follow up with {{contact_name}}",
    "task_priority": "high",
    "delay_hours": DELAY_HOURS,
    "reminder_offset_hours": None,
    "is_active": True,
}
CONTACTS = 20
DUPLICATE_EVERY = 10  # every tenth event goes to both APIs at the same moment


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL when its parent dies, so none outlives the run.
    (Like tests/support.py; the signal follows the forking *thread*: spawn from the main one.)"""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(eq=False)  # compared and hashed by identity
class Process:
    """One `python -m nudge …` child, its output in `log`."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def identity(self) -> str:
        """The Temporal SDK's default worker identity, as histories record it."""
        return f"{self.pid}@{os.uname().nodename}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.pid}) ---\n" + "\n".join(text.splitlines()[-lines:])


class Cluster:
    """`nudge worker` and `nudge api` processes on one Temporal server, database and queue."""

    def __init__(
        self, target: str, database_url: str, workdir: Path, task_queue: str | None = None
    ) -> None:
        self.workdir = workdir
        self.task_queue = task_queue or f"scale-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")} | {
            "NUDGE_TEMPORAL_ADDRESS": target,
            "NUDGE_DATABASE_URL": database_url,
            "NUDGE_TASK_QUEUE": self.task_queue,
            "NUDGE_DATA_DIR": str(workdir / "data"),
            "PYTHONUNBUFFERED": "1",
        }
        self.workers: list[Process] = []
        self.apis: list[Process] = []

    def _spawn(self, name: str, *args: str, port: int | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "nudge", *args],
                env=self.env,
                cwd=self.workdir,  # no stray .env file is read
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        return Process(name, popen, log, port)

    def spawn_worker(self) -> Process:
        worker = self._spawn(f"worker-{len(self.workers) + 1}", "worker")
        self.workers.append(worker)
        return worker

    def spawn_api(self, port: int | None = None) -> Process:
        port = port or free_port()
        name = f"api-{len(self.apis) + 1}"
        api = self._spawn(name, "api", "--host", "127.0.0.1", "--port", str(port), port=port)
        self.apis.append(api)
        return api

    def spawn(self, workers: int, apis: int) -> None:
        for _ in range(workers):
            self.spawn_worker()
        for _ in range(apis):
            self.spawn_api()

    def tails(self) -> str:
        return "\n".join(p.tail() for p in self.workers + self.apis)

    async def ready(self, seconds: float = 90) -> None:
        """Every worker polling its queue and every API answering /healthz with 200."""
        deadline = time.monotonic() + seconds
        pending = set(self.workers + self.apis)
        async with httpx.AsyncClient(timeout=5) as http:
            while pending:
                for proc in list(pending):
                    if not proc.alive():
                        raise RuntimeError(f"{proc.name} exited\n{self.tails()}")
                    if proc.port is None:
                        if b"worker polling" in proc.log.read_bytes():
                            pending.discard(proc)
                        continue
                    try:
                        resp = await http.get(f"http://127.0.0.1:{proc.port}/healthz")
                        if resp.status_code == 200:
                            pending.discard(proc)
                    except httpx.TransportError:
                        pass
                if time.monotonic() > deadline:
                    names = ", ".join(sorted(p.name for p in pending))
                    raise RuntimeError(f"not ready in {seconds:.0f} s: {names}\n{self.tails()}")
                await asyncio.sleep(0.2)

    def create_owner(self, name: str) -> str:
        """`nudge create-owner NAME`: the API key, alone on stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "nudge", "create-owner", name],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"create-owner failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode().strip()

    @asynccontextmanager
    async def clients(self, key: str) -> AsyncIterator[list[httpx.AsyncClient]]:
        """One HTTP client per API process, authenticated as the owner of `key`."""
        clients = [
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api.port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            for api in self.apis
        ]
        try:
            yield clients
        finally:
            for client in clients:
                await client.aclose()

    def stop(self) -> None:
        """SIGKILL every process still running (runs in `finally`: never raises for one)."""
        for proc in self.workers + self.apis:
            try:
                proc.kill()
            except OSError:
                pass


async def seed(http: httpx.AsyncClient, contacts: int = CONTACTS) -> dict[str, Any]:
    """Contacts c-0 … c-{contacts-1} and the one active rule, through the API; the rule."""
    for i in range(contacts):
        resp = await http.post("/api/contacts/", json={"external_id": f"c-{i}", "name": f"C {i}"})
        assert resp.status_code == 201, resp.text
    resp = await http.post(RULES, json=RULE)
    assert resp.status_code == 201, resp.text
    return resp.json()


@dataclass
class Sent:
    """Every answer, per event id: (API index, status, duplicate flag, firing ids)."""

    answers: dict[str, list[tuple[int, int, bool, tuple[int, ...]]]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def statuses(self) -> Counter[int]:
        return Counter(status for answers in self.answers.values() for _, status, _, _ in answers)


async def send_events(
    apis: list[httpx.AsyncClient],
    event_ids: list[str],
    *,
    concurrency: int = 16,
    duplicate_every: int = DUPLICATE_EVERY,
    contacts: int = CONTACTS,
    first_api: int = 0,
) -> Sent:
    """POST each event once, round-robin over the APIs, at most `concurrency` in flight;
    every `duplicate_every`-th one to every API at the same moment (0: none)."""
    sent = Sent()
    gate = asyncio.Semaphore(concurrency)
    start = time.perf_counter()

    async def post(api: int, i: int, event_id: str) -> None:
        body = {
            "event_id": event_id,
            "contact_external_id": f"c-{i % contacts}",
            "activity_type": "email_opened",
        }
        async with gate:
            began = time.perf_counter()
            resp = await apis[api].post(EVENTS, json=body)
            sent.latencies.append(time.perf_counter() - began)
        data = resp.json() if resp.headers.get("content-type") == "application/json" else {}
        firings = tuple(f["id"] for f in data.get("firings", []))
        answer = (api, resp.status_code, bool(data.get("duplicate")), firings)
        sent.answers.setdefault(event_id, []).append(answer)

    async def one(i: int, event_id: str) -> None:
        if duplicate_every and i % duplicate_every == 0:
            await asyncio.gather(*(post(api, i, event_id) for api in range(len(apis))))
        else:
            await post((first_api + i) % len(apis), i, event_id)

    await asyncio.gather(*(one(i, event_id) for i, event_id in enumerate(event_ids)))
    sent.seconds = time.perf_counter() - start
    return sent


def task_count(sessions: sessionmaker[Session], owner_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Task.owner_id == owner_id)) or 0


@dataclass
class Counts:
    events: int
    unprocessed: int
    firings: int
    firing_states: dict[str, int]
    firing_workflow_ids: int  # distinct
    firing_tasks: int  # distinct task ids the firings point at
    tasks: int
    task_keys: int  # distinct idempotency keys
    tasks_matching_a_firing: int  # task.idempotency_key == its firing's workflow id
    times_triggered: int
    tasks_created: int

    def exact(self, n: int) -> bool:
        """One event row, one firing (created), one task per event id, and the rule agrees."""
        return (
            self.events == self.firings == self.firing_workflow_ids == self.firing_tasks == n
            and self.unprocessed == 0
            and self.firing_states == {"created": n}
            and self.tasks == self.task_keys == self.tasks_matching_a_firing == n
            and self.times_triggered == self.tasks_created == n
        )


def counts(sessions: sessionmaker[Session], owner_id: int, rule_id: int) -> Counts:
    firing_of, task_of = RuleFiring.owner_id == owner_id, Task.owner_id == owner_id
    with sessions() as s:

        def n(query: Any) -> int:
            return s.scalar(query) or 0

        states = s.execute(
            select(RuleFiring.state, func.count()).where(firing_of).group_by(RuleFiring.state)
        ).all()
        rule = s.get(Rule, rule_id)
        assert rule is not None
        return Counts(
            events=n(select(func.count()).where(CrmEvent.owner_id == owner_id)),
            unprocessed=n(
                select(func.count()).where(
                    CrmEvent.owner_id == owner_id, CrmEvent.processed_at.is_(None)
                )
            ),
            firings=n(select(func.count()).where(firing_of)),
            firing_states={state: count for state, count in states},
            firing_workflow_ids=n(
                select(func.count(distinct(RuleFiring.workflow_id))).where(firing_of)
            ),
            firing_tasks=n(select(func.count(distinct(RuleFiring.task_id))).where(firing_of)),
            tasks=n(select(func.count()).where(task_of)),
            task_keys=n(select(func.count(distinct(Task.idempotency_key))).where(task_of)),
            tasks_matching_a_firing=n(
                select(func.count())
                .select_from(Task)
                .join(
                    RuleFiring,
                    (RuleFiring.task_id == Task.id)
                    & (RuleFiring.workflow_id == Task.idempotency_key),
                )
                .where(task_of)
            ),
            times_triggered=rule.times_triggered,
            tasks_created=rule.tasks_created,
        )


async def wait_for_tasks(
    sessions: sessionmaker[Session], owner_id: int, n: int, seconds: float
) -> tuple[int, float]:
    """Poll until n tasks exist (or time runs out): (count, seconds waited)."""
    start = time.perf_counter()
    while True:
        found = await asyncio.to_thread(task_count, sessions, owner_id)
        if found >= n or time.perf_counter() - start > seconds:
            return found, time.perf_counter() - start
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the benchmark


@dataclass
class Row:
    name: str
    ingest: float  # events accepted per second (HTTP, both APIs)
    end_to_end: float  # tasks per second, first event sent → last task written
    p50: float
    p95: float
    exact: bool


async def floor_rate(client: Client, n: int, concurrency: int) -> Row:
    """Bare start_workflow of a no-op workflow, `concurrency` in flight: Temporal's part."""
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def start(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            await client.start_workflow(FloorWorkflow.run, id=f"{queue}-{i}", task_queue=queue)
            latencies.append(time.perf_counter() - began)

    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            client, task_queue=queue, workflows=[FloorWorkflow], activity_executor=pool
        ):
            began = time.perf_counter()
            await asyncio.gather(*(start(i) for i in range(n)))
            seconds = time.perf_counter() - began
    p50, p95 = p50_p95(latencies)
    return Row("raw start_workflow (floor)", n / seconds, float("nan"), p50, p95, True)


async def one_setup(
    target: str, database_url: str, workers: int, events: int, concurrency: int
) -> Row:
    """Fresh processes, queue and owner; N events in; the time until N tasks exist."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    workdir = Path(tempfile.mkdtemp(prefix="nudge-scale-"))
    cluster = Cluster(target, database_url, workdir)
    try:
        cluster.spawn(workers=workers, apis=2)
        say(f"\n{workers} worker(s), 2 APIs: starting (logs in {workdir}) …")
        await cluster.ready()
        key = cluster.create_owner(f"scale-{workers}w-{uuid.uuid4().hex[:6]}")
        async with cluster.clients(key) as apis:
            rule = await seed(apis[0])
            owner_id = (await apis[0].get("/api/account/")).json()["id"]
            ids = [f"{cluster.task_queue}-{i}" for i in range(events)]
            began = time.perf_counter()
            sent = await send_events(apis, ids, concurrency=concurrency)
            say(f"  {events} events accepted in {sent.seconds:.1f} s; {dict(sent.statuses)}")
            found, _ = await wait_for_tasks(sessions, owner_id, events, 600)
            seconds = time.perf_counter() - began
            await asyncio.sleep(1)  # anything doubled late would show in the counts
            final = await asyncio.to_thread(counts, sessions, owner_id, rule["id"])
        exact = found == events and final.exact(events) and sent.statuses[201] == events
        say(f"  {found} tasks after {seconds:.1f} s; exact: {exact}")
        if not exact:
            say(f"  counts: {final}")
        p50, p95 = p50_p95(sent.latencies)
        name = f"{workers} worker{'s' if workers > 1 else ''}, 2 APIs"
        return Row(name, events / sent.seconds, events / seconds, p50, p95, exact)
    finally:
        cluster.stop()
        engine.dispose()


async def main(client: Client, events: int, concurrency: int) -> None:
    target = client.service_client.config.target_host
    url = os.environ.get("NUDGE_BENCH_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='nudge-bench-')}/scale.db"
    )
    say(f"\nscale-out: database {url.split('@')[-1]}; {events} events, {concurrency} in flight")
    say(f"({os.cpu_count()} cores; every {DUPLICATE_EVERY}th event also sent to the other API)")
    upgrade(url)
    floor = await floor_rate(client, events, concurrency)
    say(f"  raw start_workflow: {floor.ingest:.1f}/s")
    rows = [floor]
    for workers in (1, 3):
        rows.append(await one_setup(target, url, workers, events, concurrency))

    print(f"\nscale-out: {events} activity events → tasks (rule delay ~1.1 s), same run")
    print(f"{'setup':<28}{'events/s':>10}{'tasks/s':>10}{'p50 ms':>9}{'p95 ms':>9}  exact")
    for row in rows:
        e2e = "-" if row is floor else f"{row.end_to_end:.1f}"
        print(
            f"{row.name:<28}{row.ingest:>10.1f}{e2e:>10}{row.p50:>9.1f}{row.p95:>9.1f}  "
            f"{'yes' if row.exact else 'NO'}"
        )
    one, three = rows[1], rows[2]
    print(f"3 workers / 1 worker: tasks/s {three.end_to_end / one.end_to_end:.2f}x, "
          f"events/s {three.ingest / one.ingest:.2f}x")  # fmt: skip
    print(f"event ingest / raw start_workflow floor: 1 worker {one.ingest / floor.ingest:.2f}x, "
          f"3 workers {three.ingest / floor.ingest:.2f}x")  # fmt: skip
