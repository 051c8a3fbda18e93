"""SIGTERM drains the worker: it stops polling, lets the activity in flight finish within the
grace period and exits 0, so a deploy's rolling restart neither cuts a webhook mid-request nor
makes it run twice."""

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import update

from nudge.core.ids import reminder_workflow_id
from nudge.core.models import Owner, Task
from nudge.platform.db import transaction
from nudge.reminders.payloads import ReminderInput
from tests.support import WorkerProcess
from workflows.reminder import ReminderWorkflow

pytestmark = pytest.mark.slow
ANSWER_AFTER = 3.0  # seconds the receiver takes: the SIGTERM lands meanwhile


class SlowReceiver:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.answered: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.started.set()
                time.sleep(ANSWER_AFTER)
                self.send_response(204)
                self.end_headers()
                receiver.answered.append(time.monotonic())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    r = SlowReceiver()
    yield r
    r.server.shutdown()


async def test_sigterm_lets_the_activity_in_flight_finish(
    dev_env, database_url, sessions, tenant, receiver, tmp_path
):
    queue = f"tq-{uuid.uuid4()}"
    target = dev_env.client.service_client.config.target_host
    worker = WorkerProcess(target, database_url, queue, tmp_path / "worker.log")
    worker.env["NUDGE_WEBHOOK_ALLOW_PRIVATE"] = "true"
    now = await dev_env.get_current_time()
    with transaction(sessions) as session:
        session.execute(
            update(Owner)
            .where(Owner.id == tenant.owner_id)
            .values(webhook_url=receiver.url, webhook_secret="s")
        )
        task = Task(
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            title="Call back",
            due_at=now + timedelta(hours=1),
            reminder_at=now,
            source="test",
            reminder_status="scheduled",
            idempotency_key=f"drain-{uuid.uuid4()}",
        )
        session.add(task)
        session.flush()
        task_id = task.id
    worker.start()
    try:
        handle = await dev_env.client.start_workflow(
            ReminderWorkflow.run,
            ReminderInput(owner_id=tenant.owner_id, task_id=task_id, remind_at=now),
            id=reminder_workflow_id(task_id),
            task_queue=queue,
        )
        assert receiver.started.wait(30), (tmp_path / "worker.log").read_text()
        assert worker.proc is not None
        os.kill(worker.proc.pid, signal.SIGTERM)
        sent = time.monotonic()
        assert worker.proc.wait(timeout=20) == 0, (tmp_path / "worker.log").read_text()
        exited = time.monotonic()
        # It waited for the webhook to answer, and no longer than the 10 s grace period.
        assert len(receiver.answered) == 1 and receiver.answered[0] <= exited
        assert exited - sent < 12
        assert "worker stopped" in (tmp_path / "worker.log").read_text()

        worker.start()  # the next one finishes the workflow from where it was
        assert await handle.result() == "delivered"
    finally:
        worker.kill()
    assert len(receiver.answered) == 1  # the webhook ran once: not cut, not retried
    attempts = [
        e.activity_task_started_event_attributes.attempt
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1, 1, 1]  # record, post, mark: each once
    with sessions() as session:
        row = session.get(Task, task_id)
        assert row is not None and row.reminder_status == "delivered"
