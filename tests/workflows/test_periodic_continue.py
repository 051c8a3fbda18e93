"""A long overdue sweep continues as new every few pages (its history stays bounded) and
still escalates each late task exactly once, with the totals carried across its runs; a
page's escalations are written in one transaction and a second sweep writes none again."""

import uuid
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from nudge.periodic.payloads import SweepCarry
from nudge.platform.temporal import DATA_CONVERTER
from tests.workflows.test_periodic import (
    GRACE,
    add_task,
    all_escalations,
    escalations_of,
    overdue_candidates,
)
from worker import WORKFLOWS
from workflows.periodic import PeriodicJobWorkflow


async def test_long_sweep_continues_as_new_and_escalates_each_task_once(
    time_env, time_worker, sessions, tenant
):
    now = (await time_env.get_current_time()).replace(microsecond=0)
    late = [
        add_task(sessions, tenant, f"Call {i}", due_at=now - GRACE - timedelta(hours=1 + i))
        for i in range(7)
    ]
    candidates = overdue_candidates(sessions, now)
    before = all_escalations(sessions)

    handle = await time_env.client.start_workflow(
        PeriodicJobWorkflow.run,
        args=["escalate_overdue", 2, SweepCarry(pages_per_run=2)],
        id=f"periodic-test-{uuid.uuid4()}",
        task_queue=time_worker.task_queue,
    )
    with time_env.auto_time_skipping_disabled():
        result = await handle.result()  # follows the chain of runs to the last

    made = escalations_of(sessions, tenant.owner_id)
    assert [t.idempotency_key for t in made] == [f"overdue-{task_id}" for task_id in late]
    assert result.examined >= len(candidates) and result.done
    assert result.acted == all_escalations(sessions) - before >= len(late)

    # The first run stopped after two pages and handed the rest on; it replays.
    first = time_env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first.fetch_history()
    last = history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    scheduled = [
        e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert len(scheduled) == 2
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert replayed.replay_failure is None

    # Run again: nothing left to write for this owner.
    again = await time_env.client.start_workflow(
        PeriodicJobWorkflow.run,
        args=["escalate_overdue", 500],
        id=f"periodic-test-{uuid.uuid4()}",
        task_queue=time_worker.task_queue,
    )
    with time_env.auto_time_skipping_disabled():
        await again.result()
    assert [t.id for t in escalations_of(sessions, tenant.owner_id)] == [t.id for t in made]
