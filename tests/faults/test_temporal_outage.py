"""Temporal killed -9 mid-load and started again: every event the API accepted while it was
away gets its task within 60 s of the restart, with nobody sending anything again, and none
twice. (The dev server keeps its state in a file, as `nudge up` does, so workflows started
before the kill carry on after it.)"""

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from api.embedded import free_port, serve_api
from nudge.core.models import Contact
from nudge.platform.db import transaction
from nudge.platform.settings import Settings
from nudge.platform.supervisor import temporal_argv
from nudge.platform.temporal import DATA_CONVERTER
from tests.faults.counts import event_counts
from tests.support import WorkerProcess, auth, poll

pytestmark = pytest.mark.slow

EVENTS = 60
QUICK_RULE = {
    "name": "Opened: call",
    "trigger_type": "activity",
    "trigger_config": {"activity_types": ["email_opened"]},
    "task_title_template": "Call {{ contact_name }}",
    "task_priority": "high",
    "delay_hours": 0.001,  # 3.6 s
    "reminder_offset_hours": None,
}


class DevServer:
    """`temporal server start-dev` over a state file, killable and restartable on one port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        settings = Settings(
            data_dir=data_dir, temporal_port=self.port, temporal_ui_port=free_port()
        )
        self.argv = [*temporal_argv(settings), "--headless"]
        self.log = data_dir / "temporal.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )

    async def ready(self, client: Client) -> float:
        """Wait until it answers; the time it did."""
        deadline = time.monotonic() + 60
        while True:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return time.monotonic()
            except Exception:
                assert time.monotonic() < deadline, "Temporal did not come back"
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    dev = DevServer(tmp_path)
    dev.start()
    yield dev
    dev.kill()


async def test_events_accepted_while_temporal_is_down_start_when_it_returns(
    server, sessions, database_url, make_tenant, tmp_path
):
    client = await Client.connect(
        f"127.0.0.1:{server.port}", data_converter=DATA_CONVERTER, lazy=True
    )
    await server.ready(client)
    queue = f"tq-{uuid.uuid4()}"
    worker = WorkerProcess(f"127.0.0.1:{server.port}", database_url, queue, tmp_path / "w.log")
    worker.start()  # registers the search attributes, then polls
    tenant = make_tenant()
    with transaction(sessions) as session:
        others = [
            Contact(owner_id=tenant.owner_id, external_id=f"outage-{i}", name=f"Contact {i}")
            for i in range(1, EVENTS)
        ]
        session.add_all(others)
        session.flush()
        contacts = [tenant.contact_id] + [c.id for c in others]
    answers: dict[int, httpx.Response] = {}
    try:
        async with serve_api(client, sessions, queue) as http:
            made = await http.post(
                "/api/task-automation/rules/", json=QUICK_RULE, headers=auth(tenant)
            )
            assert made.status_code == 201, made.text

            async def send(i: int) -> None:
                answers[i] = await http.post(
                    "/api/events/activities/",
                    json={"event_id": f"open-{i}", "contact_id": contacts[i],
                          "activity_type": "email_opened"},
                    headers=auth(tenant),
                )  # fmt: skip

            # A third before the kill, a third while Temporal is away, a third after.
            for i in range(EVENTS // 3):
                await send(i)
            server.kill()
            for i in range(EVENTS // 3, 2 * EVENTS // 3):
                await send(i)
            await asyncio.sleep(5)  # down for a while, as an outage is
            server.start()
            back = await server.ready(client)
            for i in range(2 * EVENTS // 3, EVENTS):
                await send(i)

            async def fetch() -> tuple[int, int, int]:
                return await event_counts(sessions, tenant.owner_id)

            final = await poll(fetch, lambda c: c[0] >= EVENTS and c[2] == 0, 75)
            took = time.monotonic() - back
    finally:
        worker.kill()

    statuses = [answers[i].status_code for i in range(EVENTS)]
    down = [i for i in range(EVENTS) if statuses[i] == 503]
    assert set(statuses) <= {201, 503}, statuses
    assert down, "no request met the outage: the test proved nothing"
    for i in down:
        assert answers[i].headers["content-type"].startswith("application/json")
        assert "again is safe" in answers[i].json()["detail"]
    assert final == (EVENTS, EVENTS, 0), final  # one task per event: none lost, none doubled
    assert took <= 60, f"the last task came {took:.0f} s after Temporal was back"
    await asyncio.sleep(5)  # nothing more arrives late
    assert await fetch() == (EVENTS, EVENTS, 0)
