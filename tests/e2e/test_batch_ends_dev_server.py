"""Batches and stats agree with Temporal on the real dev server: a run terminated in Temporal
is closed, with Temporal's reason, by one automation reconcile run (nobody reading it); the
page lists only live sequences; a sequence cancelled through the API reads Canceled in
Temporal, even when the cancellation lands during a write."""

import asyncio
import re
import threading
import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus

from activities.tasks import TaskActivities
from nudge.core.models import TaskBatch, utcnow
from nudge.platform.db import transaction
from nudge.sequences.payloads import SequenceInput
from nudge.sequences.start import schedule_sequence
from nudge.sequences.starts import signal_sequence
from nudge.tasks.ended import FORGOTTEN
from nudge.tasks.payloads import ContactCard
from tests.api.test_page import BASE, signed_in
from tests.support import auth, poll
from tests.workflows.helpers import batch, worker_with
from workflows.periodic import PeriodicJobWorkflow

pytestmark = pytest.mark.slow


async def start(api, tenant, sequence_type: str = "standard") -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": sequence_type},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def running_sequences(api, tenant) -> int:  # type: ignore[no-untyped-def]
    resp = await api.get("/api/task-automation/stats/", headers=auth(tenant))
    return resp.json()["running"]["sequences"]


async def test_a_terminated_sequence_is_closed_by_one_reconcile_run(
    dev_api, dev_env, tenant, dev_worker_queue
):
    api, headers = dev_api, auth(tenant)
    terminated, other = await start(api, tenant, "standard"), await start(api, tenant, "gentle")
    assert await running_sequences(api, tenant) == 2
    url = f"/api/task-automation/batches/{terminated['batch_id']}/"

    await dev_env.client.get_workflow_handle(terminated["workflow_id"]).terminate(
        reason="ops cleanup"
    )
    # Listing batches reads only our rows: until the reconcile, it still says running.
    assert (await api.get(url, headers=headers)).json()["status"] == "running"

    result = await dev_env.client.execute_workflow(
        PeriodicJobWorkflow.run,
        args=["process_automation", 500],
        id=f"reconcile-test-{uuid.uuid4()}",
        task_queue=dev_worker_queue,
    )
    assert result.acted >= 1

    ended = (await api.get(url, headers=headers)).json()
    assert (ended["status"], ended["stop_reason"]) == ("stopped", "ops cleanup")
    assert ended["finished_at"] is not None
    # Ended with none of its 4 tasks made: 0 %, not 100.
    pick = ("planned", "created", "completed", "cancelled", "percent")
    assert [ended[k] for k in pick] == [4, 0, 0, 0, 0]
    assert await running_sequences(api, tenant) == 1
    still = await api.get(f"/api/task-automation/batches/{other['batch_id']}/", headers=headers)
    assert still.json()["status"] == "running"  # the live one is left alone

    # The sequence reads the same, with the same reason.
    progress = await api.get(
        f"/api/task-automation/sequences/{terminated['workflow_id']}/", headers=headers
    )
    assert (progress.json()["state"], progress.json()["stop_reason"]) == (
        "stopped",
        "ops cleanup",
    )
    await signal_sequence(dev_env.client, other["workflow_id"], "cancel", "test over")


async def test_a_batch_temporal_never_heard_of_is_closed_once_it_is_old(
    dev_api, dev_env, sessions, tenant, dev_worker_queue
):
    """A running batch whose workflow Temporal has no record of (history past retention, a
    reset server, a start that never happened) is stopped by the reconcile, saying so; one
    that could still be starting is left alone."""
    ids = []
    with transaction(sessions) as session:
        for age in (timedelta(hours=2), timedelta(seconds=5)):
            row = TaskBatch(
                owner_id=tenant.owner_id,
                kind="sequence",
                name="Standard follow-up",
                contact_id=tenant.contact_id,
                workflow_id=f"sequence-{tenant.owner_id}-{tenant.contact_id}-{uuid.uuid4()}",
                planned=4,
                created_at=utcnow() - age,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    await dev_env.client.execute_workflow(
        PeriodicJobWorkflow.run,
        args=["process_automation", 500],
        id=f"reconcile-test-{uuid.uuid4()}",
        task_queue=dev_worker_queue,
    )
    old, fresh = [
        (await dev_api.get(f"/api/task-automation/batches/{i}/", headers=auth(tenant))).json()
        for i in ids
    ]
    assert (old["status"], old["stop_reason"]) == ("stopped", FORGOTTEN)
    assert fresh["status"] == "running"


async def test_the_page_lists_only_live_sequences(dev_api, dev_env, tenant):
    live, ended = await start(dev_api, tenant, "standard"), await start(dev_api, tenant, "gentle")
    await dev_env.client.get_workflow_handle(ended["workflow_id"]).terminate(reason="ops cleanup")
    async with signed_in(dev_api, tenant) as (browser, _):
        page = (await browser.get(BASE)).text
    running = page[page.index('id="sequences"') : page.index('id="batches"')]
    rows = re.findall(r'<tr class="sequence" data-workflow="([^"]+)"', running)
    assert rows == [live["workflow_id"]]
    assert f"/sequences/{live['workflow_id']}/cancel" in running
    assert f"/sequences/{ended['workflow_id']}/" not in running
    # Reading it on the page recorded its end: the stats card and the batches agree.
    assert re.search(r'id="stat-sequences">1<', page)
    batches = page[page.index('id="batches"') :]
    assert "ops cleanup" in batches
    await signal_sequence(dev_env.client, live["workflow_id"], "cancel", "test over")


async def test_a_sequence_cancelled_through_the_api_reads_canceled(dev_api, dev_env, tenant):
    started = await start(dev_api, tenant)
    wf = started["workflow_id"]
    resp = await dev_api.post(
        f"/api/task-automation/sequences/{wf}/cancel/",
        json={"reason": "booked a demo"},
        headers=auth(tenant),
    )
    assert resp.status_code == 200
    assert (resp.json()["state"], resp.json()["stop_reason"]) == ("cancelled", "booked a demo")
    handle = dev_env.client.get_workflow_handle(wf)

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    assert await poll(status, lambda s: s != WorkflowExecutionStatus.RUNNING) == (
        WorkflowExecutionStatus.CANCELED
    )
    body = (
        await dev_api.get(
            f"/api/task-automation/batches/{started['batch_id']}/", headers=auth(tenant)
        )
    ).json()
    assert (body["status"], body["stop_reason"]) == ("cancelled", "booked a demo")
    again = await dev_api.post(f"/api/task-automation/sequences/{wf}/cancel/", headers=auth(tenant))
    assert again.status_code == 409 and "(cancelled)" in again.json()["detail"]


class HoldBegin(TaskActivities):
    """Holds the sequence's first write until released, so a cancellation can land meanwhile."""

    def __init__(self, sessions, release: threading.Event, writing: threading.Event) -> None:  # type: ignore[no-untyped-def]
        super().__init__(sessions)
        self.release, self.writing = release, writing

    @activity.defn(name="begin_sequence")
    def begin_sequence(self, inp: SequenceInput) -> ContactCard:
        self.writing.set()
        self.release.wait(10)
        return super().begin_sequence(inp)


async def test_a_cancel_during_a_write_is_recorded(dev_env, sessions, tenant, executor):
    release, writing = threading.Event(), threading.Event()
    async with worker_with(dev_env.client, HoldBegin(sessions, release, writing), executor) as w:
        scheduled = await schedule_sequence(
            dev_env.client,
            sessions,
            task_queue=w.task_queue,
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            sequence_type="standard",
            start_delay_hours=0,
        )
        assert await asyncio.to_thread(writing.wait, 10)
        assert await signal_sequence(dev_env.client, scheduled.workflow_id, "cancel", "mid-write")
        saved = await poll(
            lambda: asyncio.to_thread(batch, sessions, scheduled.batch_id),
            lambda b: b.status != "running",
        )
        release.set()
        handle = dev_env.client.get_workflow_handle(scheduled.workflow_id)

        async def status() -> WorkflowExecutionStatus | None:
            return (await handle.describe()).status

        final = await poll(status, lambda s: s != WorkflowExecutionStatus.RUNNING)
    assert (saved.status, saved.stop_reason) == ("cancelled", "mid-write")
    assert final == WorkflowExecutionStatus.CANCELED
