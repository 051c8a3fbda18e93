"""One stage for the request-path rows, as `nudge up` runs Nudge: a `nudge api` process and a
`nudge worker` process (each its own interpreter, as deployed) on one Temporal server and one
database, an owner with contacts; and, in this process, a worker for the raw floor workflows."""

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tasks import TaskActivities
from bench.common import API_PORT, say
from bench.floor import (
    ActivityFloorWorkflow,
    FloorWorkflow,
    TimerFloorWorkflow,
    WriteTaskWorkflow,
    late_by,
    noop,
)
from bench.scale import Cluster
from nudge.core.models import Contact
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade


@cache
def bench_database() -> str:
    """NUDGE_BENCH_DATABASE_URL, else a fresh SQLite file (as `nudge up` runs): one per run,
    shared by the rows, so their workflow ids (which derive from row ids) never meet."""
    return os.environ.get("NUDGE_BENCH_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='nudge-bench-')}/bench.db"
    )


@dataclass
class Stage:
    client: Client
    sessions: sessionmaker[Session]
    http: httpx.AsyncClient  # to the `nudge api` process, authenticated as the owner
    queue: str  # the `nudge worker` process's; the floor worker polls queue + "-floor"
    owner_id: int
    contacts: list[int]  # contact i has external id f"b{i}"

    @property
    def floor_queue(self) -> str:
        return self.queue + "-floor"


def _contacts(sessions: sessionmaker[Session], owner_id: int, n: int) -> list[int]:
    with transaction(sessions) as session:
        session.execute(
            insert(Contact),
            [
                {"owner_id": owner_id, "external_id": f"b{i}", "name": f"Contact {i}"}
                for i in range(n)
            ],
        )
        query = select(Contact.id).where(Contact.owner_id == owner_id).order_by(Contact.id)
        return list(session.scalars(query))


@asynccontextmanager
async def stage(client: Client, contacts: int, url: str | None = None) -> AsyncIterator[Stage]:
    url = url or bench_database()
    say(f"database: {url.split('@')[-1]}; {contacts:,} contacts; `nudge api` + `nudge worker`")
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    workdir = Path(tempfile.mkdtemp(prefix="nudge-bench-stage-"))
    cluster = Cluster(client.service_client.config.target_host, url, workdir)
    try:
        cluster.spawn_worker()
        cluster.spawn_api(API_PORT)
        await cluster.ready()
        key = cluster.create_owner(f"bench-{uuid.uuid4().hex[:6]}")
        with ThreadPoolExecutor(16, thread_name_prefix="activity") as pool:
            floor_worker = Worker(
                client,
                task_queue=cluster.task_queue + "-floor",
                workflows=[
                    FloorWorkflow,
                    ActivityFloorWorkflow,
                    TimerFloorWorkflow,
                    WriteTaskWorkflow,
                ],
                activities=[noop, late_by, TaskActivities(sessions).create_task],
                activity_executor=pool,
                max_concurrent_activities=16,
            )
            async with floor_worker, cluster.clients(key) as (http,):
                owner_id = int((await http.get("/api/account/")).json()["id"])
                ids = _contacts(sessions, owner_id, contacts)
                yield Stage(client, sessions, http, cluster.task_queue, owner_id, ids)
    finally:
        cluster.stop()
        engine.dispose()
