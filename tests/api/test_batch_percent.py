"""A batch's percent is measured against what it planned, ended or not: a sequence stopped
before any task reads 0 beside its status and reason, never 100."""

from datetime import UTC, datetime, timedelta

from nudge.core.models import Task, TaskBatch
from nudge.platform.db import transaction
from tests.support import auth

URL = "/api/task-automation/batches/"


async def test_an_ended_batch_reads_the_share_of_its_plan_it_reached(api, sessions, tenant):
    now = datetime.now(UTC)
    rows = {  # name: (kind, status, planned, task statuses)
        "terminated early": ("sequence", "stopped", 4, []),
        "stopped after one": ("sequence", "stopped", 4, ["completed"]),
        "ran to the end": ("sequence", "completed", 4, ["completed"] * 3 + ["cancelled"]),
        "emails only, ended": ("campaign", "completed", 0, []),
        "emails only, running": ("campaign", "running", 0, []),
    }
    with transaction(sessions) as s:
        for name, (kind, status, planned, tasks) in rows.items():
            b = TaskBatch(owner_id=tenant.owner_id, kind=kind, name=name, planned=planned,
                          contact_id=tenant.contact_id, workflow_id=f"w-{name}", status=status,
                          stop_reason="ops cleanup" if status == "stopped" else None)  # fmt: skip
            s.add(b)
            s.flush()
            for i, task_status in enumerate(tasks):
                s.add(Task(owner_id=tenant.owner_id, title=name, source="test",
                           status=task_status, due_at=now + timedelta(days=1), batch_id=b.id,
                           idempotency_key=f"pct-{b.id}-{i}"))  # fmt: skip
    body = (await api.get(URL, headers=auth(tenant))).json()
    got = {b["name"]: (b["status"], b["created"], b["percent"]) for b in body["items"]}
    assert got == {
        "terminated early": ("stopped", 0, 0),
        "stopped after one": ("stopped", 1, 25),
        "ran to the end": ("completed", 4, 100),
        "emails only, ended": ("completed", 0, 100),
        "emails only, running": ("running", 0, 0),
    }
