"""Reminders reach a real local HTTP receiver, signed, once; a done task gets none."""

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from activities.tasks import TaskActivities
from nudge.core.ids import reminder_workflow_id
from nudge.core.models import Notification, Task
from nudge.reminders.payloads import ReminderInput
from nudge.tasks.payloads import NewTask
from tests.e2e.test_rules_time_skipping import EMAIL_OPEN_RULE, make_rule, opened
from tests.support import auth, poll
from workflows.reminder import ReminderWorkflow


class Receiver:
    """Records every POST; answers 500 to the first `fail` of them, then 204."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.seen, self.accepted = fail, [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen.append((dict(self.headers), body))
                if len(receiver.seen) <= receiver.fail:
                    self.send_response(500)
                else:
                    receiver.accepted.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nudge"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def set_webhook(api, tenant, url: str) -> str:  # type: ignore[no-untyped-def]
    resp = await api.put("/api/account/webhook/", json={"url": url}, headers=auth(tenant))
    assert resp.status_code == 200
    return resp.json()["secret"]


async def reminder_of(api, tenant) -> dict:  # type: ignore[no-untyped-def]
    items = (await api.get("/api/tasks/", headers=auth(tenant))).json()["items"]
    return items[0] if items else {}


@pytest.mark.parametrize("failures", [0, 2])
async def test_reminder_webhook_is_signed_and_accepted_once(
    api, time_env, tenant, receiver, failures
):
    receiver.fail = failures
    secret = await set_webhook(api, tenant, receiver.url)
    await make_rule(api, tenant, EMAIL_OPEN_RULE | {"delay_hours": 2, "reminder_offset_hours": 1})
    await opened(api, time_env, tenant, f"evt-hook-{failures}")
    await time_env.sleep(timedelta(hours=1, minutes=1))

    task = await poll(
        lambda: reminder_of(api, tenant), lambda t: t.get("reminder_status") == "delivered", 30
    )
    assert task["reminder_status"] == "delivered", task
    assert task["reminder_detail"] == "webhook answered 204"
    assert len(receiver.accepted) == 1 and len(receiver.seen) == failures + 1
    headers, body = receiver.accepted[0]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Nudge-Signature"], expected)
    assert {h["X-Nudge-Delivery"] for h, _ in receiver.seen} == {f"reminder-task-{task['id']}"}
    payload = json.loads(body)
    assert payload["type"] == "task.reminder"
    assert payload["task"]["title"] == "Follow up with Ada Lovelace - engaged with email"


async def test_a_task_completed_before_its_reminder_gets_none(
    api, time_env, tenant, time_worker, sessions, receiver
):
    await set_webhook(api, tenant, receiver.url)
    now = await time_env.get_current_time()
    created = TaskActivities(sessions).create_task(
        NewTask(
            idempotency_key=f"manual-{uuid.uuid4()}",
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            source="test",
            title="Call back",
            due_at=now + timedelta(days=1),
        )
    )
    with sessions() as session:
        session.get(Task, created.task_id).reminder_status = "scheduled"
        session.commit()
    handle = await time_env.client.start_workflow(
        ReminderWorkflow.run,
        ReminderInput(
            owner_id=tenant.owner_id, task_id=created.task_id, remind_at=now + timedelta(hours=20)
        ),
        id=reminder_workflow_id(created.task_id),
        task_queue=time_worker.task_queue,
    )
    await time_env.sleep(timedelta(hours=2))
    done = await api.post(f"/api/tasks/{created.task_id}/complete/", headers=auth(tenant))
    assert done.status_code == 200
    assert (done.json()["reminder_status"], done.json()["reminder_detail"]) == (
        "skipped",
        "task completed before its reminder",
    )
    await time_env.sleep(timedelta(days=1))
    assert (await handle.describe()).status.name == "CANCELED"
    assert receiver.seen == []
    with sessions() as session:
        notes = session.scalars(select(Notification).where(Notification.task_id == created.task_id))
        assert list(notes) == []
