"""PostgreSQL cut off mid-load: the API answers only JSON 503s with `Retry-After` while the
database is away (never a plain 500, never a dropped connection), and once it is back the
client's re-sends leave exactly one task per event.

The API and the worker reach PostgreSQL through a TCP proxy the test cuts: every open
connection is reset and new ones are refused, as when the server goes down. PostgreSQL only
(CI's second leg): SQLite has no server to lose."""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.embedded import free_port, serve_api
from nudge.core.models import Contact
from nudge.platform.db import make_engine, make_session_factory, transaction
from tests.faults.counts import event_counts
from tests.support import auth, poll
from worker import build_worker

pytestmark = pytest.mark.slow

EVENTS = 60
RULE = {
    "name": "Opened: call",
    "trigger_type": "activity",
    "trigger_config": {"activity_types": ["email_opened"]},
    "task_title_template": "Call {{ contact_name }}",
    "task_priority": "high",
    "delay_hours": 0,
    "reminder_offset_hours": None,
}


class Proxy:
    """A TCP proxy on its own thread and loop, which can cut every connection and refuse new
    ones until it is opened again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as a dying server gives
        self.writers.clear()

    def start(self) -> None:
        self.thread.start()
        self.open()

    def open(self) -> None:
        self._run(self._open())

    def cut(self) -> None:
        self._run(self._cut())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: run with NUDGE_TEST_DATABASE_URL (CI's second leg)")
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


async def test_database_outage_is_503_then_resends_leave_one_task_per_event(
    proxy, database_url, sessions, dev_env, executor, make_tenant
):
    proxied_url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    engine = make_engine(proxied_url.render_as_string(hide_password=False))
    proxied = make_session_factory(engine)
    tenant = make_tenant()
    with transaction(sessions) as session:
        others = [
            Contact(owner_id=tenant.owner_id, external_id=f"db-outage-{i}", name=f"Contact {i}")
            for i in range(1, EVENTS)
        ]
        session.add_all(others)
        session.flush()
        contacts = [tenant.contact_id] + [c.id for c in others]

    worker = build_worker(
        dev_env.client, proxied, task_queue=f"tq-{uuid.uuid4()}", executor=executor
    )
    answers: list[tuple[int, httpx.Response]] = []
    try:
        async with worker, serve_api(dev_env.client, proxied, worker.task_queue) as http:
            made = await http.post("/api/task-automation/rules/", json=RULE, headers=auth(tenant))
            assert made.status_code == 201, made.text

            async def send(i: int) -> httpx.Response:
                # Any transport error (a reset or dropped connection) fails the test here.
                resp = await http.post(
                    "/api/events/activities/",
                    json={"event_id": f"db-open-{i}", "contact_id": contacts[i],
                          "activity_type": "email_opened"},
                    headers=auth(tenant),
                )  # fmt: skip
                answers.append((i, resp))
                return resp

            async def send_all(indices: range) -> None:
                for start in range(indices.start, indices.stop, 5):
                    chunk = range(start, min(start + 5, indices.stop))
                    await asyncio.gather(*(send(i) for i in chunk))

            # A third before the cut, a third while the database is away, a third after;
            # every event sent twice, as a client that isn't sure it was heard does.
            third = EVENTS // 3
            await send_all(range(third))
            await asyncio.to_thread(proxy.cut)
            cut_at = time.monotonic()
            await send_all(range(third, 2 * third))
            await send_all(range(third))  # the second sends of the first third
            await asyncio.sleep(max(0.0, 8 - (time.monotonic() - cut_at)))
            await asyncio.to_thread(proxy.open)
            await send_all(range(2 * third, EVENTS))
            # The client re-sends whatever wasn't accepted, until it is.
            for _ in range(10):
                latest = {i: r.status_code for i, r in answers}
                pending = [i for i in range(EVENTS) if latest[i] >= 300]
                if not pending:
                    break
                await asyncio.gather(*(send(i) for i in pending))
            await send_all(range(third, EVENTS))  # second sends of the rest

            async def fetch() -> tuple[int, int, int]:
                return await event_counts(sessions, tenant.owner_id)

            final = await poll(fetch, lambda c: c[0] >= EVENTS and c[2] == 0, 60)
            await asyncio.sleep(3)  # nothing more arrives late
            again = await fetch()
    finally:
        engine.dispose()

    refused = [r for _, r in answers if r.status_code == 503]
    assert {r.status_code for _, r in answers} <= {200, 201, 503}, [
        (i, r.status_code, r.text[:200]) for i, r in answers if r.status_code not in (200, 201, 503)
    ]
    assert refused, "no request met the outage: the test proved nothing"
    for resp in refused:
        assert resp.headers["content-type"].startswith("application/json"), resp.text
        assert int(resp.headers["retry-after"]) > 0
        detail = resp.json()["detail"]
        assert "database is unavailable" in detail and "again is safe" in detail, detail
    assert final == (EVENTS, EVENTS, 0), final  # one task per event: none lost, none doubled
    assert again == final
