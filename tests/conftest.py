"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when
NUDGE_TEST_DATABASE_URL is set), owners and contacts, and Temporal servers."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.embedded import serve_api
from nudge.core.models import Contact
from nudge.platform.binaries import find_binary
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.platform.temporal import (
    DATA_CONVERTER,
    SEARCH_ATTRIBUTES,
    ensure_search_attributes,
    use_server_clock,
)
from tests.support import patient_sleep
from worker import build_worker

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("NUDGE_TEST_DATABASE_URL")
    if url:
        assert make_url(url).get_backend_name() == "postgresql", "tests reset this database"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'nudge.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@dataclass
class Tenant:
    owner_id: int
    api_key: str
    contact_id: int
    contact_name: str


@pytest.fixture
def make_tenant(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """A fresh owner with one contact: tests never see each other's rows."""

    def make(name: str = "Ada Lovelace", email: str | None = "ada@example.com") -> Tenant:
        with transaction(sessions) as session:
            owner, key = create_owner(session, f"owner-{uuid.uuid4().hex[:8]}")
            contact = Contact(owner_id=owner.id, external_id="c-1", name=name, email=email)
            session.add(contact)
            session.flush()
            return Tenant(owner.id, key, contact.id, name)

    return make


@pytest.fixture
def tenant(make_tenant) -> Tenant:  # type: ignore[no-untyped-def]
    return make_tenant()


# One time-skipping server per test module: a module's clock jumps (years, in the cadence
# tests) and the workflows it leaves behind don't reach the next module, and a server that
# fails under load fails one module, not the rest of the run.
@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    await ensure_search_attributes(env.client)
    use_server_clock(env.client, env.get_current_time)  # its clock jumps ahead
    patient_sleep(env)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        yield pool


@pytest.fixture(scope="module")
async def time_worker(
    time_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Worker]:
    """One worker for the module's server: the time-skipping server stops its clock while a
    workflow task waits for a worker, so a run a test left behind must still be served."""
    worker = build_worker(
        time_env.client,
        sessions,
        task_queue=f"tq-{uuid.uuid4()}",
        executor=executor,
        allow_private_webhooks=True,  # the test receivers listen on 127.0.0.1
    )
    async with worker:
        yield worker


@pytest.fixture
async def api(time_env, time_worker, sessions) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """HTTP client for the API over the time-skipping server and a running worker."""
    async with serve_api(time_env.client, sessions, time_worker.task_queue) as http:
        yield http


@pytest.fixture
def dev_worker_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
async def dev_api(
    dev_env, sessions, executor, dev_worker_queue
) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """HTTP client for the API over the real Temporal dev server and a running worker."""
    worker = build_worker(
        dev_env.client,
        sessions,
        task_queue=dev_worker_queue,
        executor=executor,
        allow_private_webhooks=True,
    )
    async with worker, serve_api(dev_env.client, sessions, worker.task_queue) as http:
        yield http
