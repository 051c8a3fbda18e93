"""Follow-up sequences on the time-skipping server: a 30-day sequence runs in seconds."""

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from activities.tasks import TaskActivities
from nudge.core.contact_events import ContactEvent
from nudge.core.models import TaskBatch
from nudge.sequences.payloads import SequenceProgress
from nudge.sequences.presets import SEQUENCE_PRESETS
from nudge.tasks.payloads import CreatedTask, NewTask
from tests.support import poll
from workflows.sequence import SequenceWorkflow

from .helpers import batch, days_between, finish, schedule, tasks_of, worker_with


@pytest.mark.parametrize("sequence_type", ["standard", "aggressive", "gentle"])
async def test_each_preset_creates_its_four_tasks_at_its_offsets(
    time_env, time_worker, sessions, tenant, sequence_type
):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, sequence_type, 24)
    start = (await handle.describe()).start_time
    expected = [1 + d for d in SEQUENCE_PRESETS[sequence_type]]  # +1 day of start delay

    # Each task appears when its day arrives, not before.
    elapsed = 0.0
    for made, day in enumerate(expected):
        await time_env.sleep(timedelta(days=day - 0.01 - elapsed))
        assert len(tasks_of(sessions, scheduled.batch_id)) == made, f"before day {day}"
        await time_env.sleep(timedelta(days=0.02))
        count = await poll(
            lambda: _count(sessions, scheduled.batch_id), lambda n, made=made: n > made
        )
        assert count == made + 1, f"after day {day}"
        elapsed = day + 0.01
    result: SequenceProgress = await finish(time_env, handle)

    tasks = tasks_of(sessions, scheduled.batch_id)
    assert days_between(start, [t.due_at for t in tasks]) == expected
    assert days_between(start, [p.due_at for p in scheduled.planned]) == expected
    assert [t.title for t in tasks] == [f"Follow up with Ada Lovelace ({i}/4)" for i in range(1, 5)]
    assert {t.owner_id for t in tasks} == {tenant.owner_id}
    assert result.state == "completed" and result.tasks_created == 4
    assert batch(sessions, scheduled.batch_id).status == "completed"


async def test_the_answer_plans_the_due_times_the_tasks_get(
    time_env, time_worker, sessions, tenant
):
    """The API answers a start with due times counted from the anchor it gave the workflow
    (no describe): to the microsecond what the tasks get, start delay included."""
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "aggressive", 5)
    history = await handle.fetch_history()
    given = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert b'"anchor"' in given.data and b'"anchor":null' not in given.data
    await finish(time_env, handle)
    due = [t.due_at for t in tasks_of(sessions, scheduled.batch_id)]
    assert due == [p.due_at for p in scheduled.planned]
    assert len(due) == 4


async def _count(sessions, batch_id: int) -> int:  # type: ignore[no-untyped-def]
    return len(tasks_of(sessions, batch_id))


async def test_reply_on_day_two_of_standard_leaves_one_task(
    time_env, time_worker, sessions, tenant
):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "standard")
    await time_env.sleep(timedelta(days=2))
    await handle.signal(SequenceWorkflow.contact_event, ContactEvent(type="email_replied"))
    result: SequenceProgress = await finish(time_env, handle)

    assert len(tasks_of(sessions, scheduled.batch_id)) == 1
    assert result.state == "stopped"
    assert result.stop_reason == "contact event: email_replied"
    saved = batch(sessions, scheduled.batch_id)
    assert (saved.status, saved.stop_reason) == ("stopped", "contact event: email_replied")


async def test_status_change_to_lost_stops_and_other_events_do_not(
    time_env, time_worker, sessions, tenant
):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "aggressive")
    await time_env.sleep(timedelta(hours=30))
    await handle.signal(SequenceWorkflow.contact_event, ContactEvent(type="email_opened"))
    await handle.signal(
        SequenceWorkflow.contact_event, ContactEvent(type="status_change", status="lead")
    )
    await time_env.sleep(timedelta(days=1))  # day 2 step still happens
    await handle.signal(
        SequenceWorkflow.contact_event, ContactEvent(type="status_change", status="lost")
    )
    result: SequenceProgress = await finish(time_env, handle)
    assert result.state == "stopped" and result.tasks_created == 2
    assert len(tasks_of(sessions, scheduled.batch_id)) == 2


async def test_pause_five_days_then_resume_shifts_the_rest(time_env, time_worker, sessions, tenant):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "standard")
    start = (await handle.describe()).start_time
    await time_env.sleep(timedelta(days=2))  # step 1 (day 1) done
    await handle.signal(SequenceWorkflow.pause)
    paused: SequenceProgress = await handle.query(SequenceWorkflow.progress)
    assert (paused.state, paused.next_due_at) == ("paused", None)
    await time_env.sleep(timedelta(days=5))
    assert len(tasks_of(sessions, scheduled.batch_id)) == 1  # nothing while paused
    await handle.signal(SequenceWorkflow.resume)
    resumed: SequenceProgress = await handle.query(SequenceWorkflow.progress)
    assert resumed.state == "running"
    assert days_between(start, [p.due_at for p in resumed.planned]) == [1, 8, 12, 19]
    # Step 2 was due on day 3; shifted by the 5 days paused it now comes on day 8.
    await time_env.sleep(timedelta(days=0.9))  # day 7.9
    assert len(tasks_of(sessions, scheduled.batch_id)) == 1
    await time_env.sleep(timedelta(days=0.2))  # day 8.1
    assert await poll(lambda: _count(sessions, scheduled.batch_id), lambda n: n == 2) == 2
    result: SequenceProgress = await finish(time_env, handle)

    due = [t.due_at for t in tasks_of(sessions, scheduled.batch_id)]
    assert days_between(start, due) == [1, 8, 12, 19]
    assert result.state == "completed"


async def test_pause_and_resume_twice_are_no_ops(time_env, time_worker, sessions, tenant):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "aggressive")
    start = (await handle.describe()).start_time
    await handle.signal(SequenceWorkflow.pause)
    await handle.signal(SequenceWorkflow.pause)
    await time_env.sleep(timedelta(days=1))
    await handle.signal(SequenceWorkflow.resume)
    await handle.signal(SequenceWorkflow.resume)
    await finish(time_env, handle)
    due = [t.due_at for t in tasks_of(sessions, scheduled.batch_id)]
    assert days_between(start, due) == [2, 3, 5, 8]


async def test_cancel_stops_the_sequence(time_env, time_worker, sessions, tenant):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "gentle")
    await time_env.sleep(timedelta(days=4))  # step 1 (day 3) done
    await handle.signal(SequenceWorkflow.cancel, "deal closed elsewhere")
    result: SequenceProgress = await finish(time_env, handle)
    await time_env.sleep(timedelta(days=40))

    assert len(tasks_of(sessions, scheduled.batch_id)) == 1
    assert (result.state, result.stop_reason) == ("cancelled", "deal closed elsewhere")
    saved = batch(sessions, scheduled.batch_id)
    assert (saved.status, saved.stop_reason) == ("cancelled", "deal closed elsewhere")


async def test_temporal_cancellation_is_recorded(time_env, time_worker, sessions, tenant):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "standard")
    await time_env.sleep(timedelta(days=1, hours=1))
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await finish(time_env, handle)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert batch(sessions, scheduled.batch_id).status == "cancelled"
    assert len(tasks_of(sessions, scheduled.batch_id)) == 1


async def test_double_start_yields_one_workflow(time_env, time_worker, sessions, tenant):
    first, second = await asyncio.gather(
        schedule(time_env, time_worker, sessions, tenant, "aggressive"),
        schedule(time_env, time_worker, sessions, tenant, "aggressive"),
    )
    (a, handle), (b, _) = first, second
    assert a.workflow_id == b.workflow_id and a.batch_id == b.batch_id
    assert sorted([a.started, b.started]) == [False, True]
    assert [p.due_at for p in a.planned] == [p.due_at for p in b.planned]
    await finish(time_env, handle)
    assert len(tasks_of(sessions, a.batch_id)) == 4
    with sessions() as session:
        batches = session.scalars(select(TaskBatch).where(TaskBatch.workflow_id == a.workflow_id))
        assert [b.id for b in batches] == [a.batch_id]  # the loser's batch row is gone


async def test_a_finished_sequence_can_run_again_as_a_new_batch(
    time_env, time_worker, sessions, tenant
):
    first, handle = await schedule(time_env, time_worker, sessions, tenant, "aggressive")
    await finish(time_env, handle)
    second, handle2 = await schedule(time_env, time_worker, sessions, tenant, "aggressive")
    await finish(time_env, handle2)
    assert second.started and second.batch_id != first.batch_id
    assert len(tasks_of(sessions, first.batch_id)) == len(tasks_of(sessions, second.batch_id)) == 4


class HoldLastWrite(TaskActivities):
    """Holds the last step's write until released, so a signal can land meanwhile."""

    def __init__(self, sessions, release: threading.Event, writing: threading.Event) -> None:  # type: ignore[no-untyped-def]
        super().__init__(sessions)
        self.release, self.writing = release, writing

    @activity.defn(name="create_task")
    def create_task(self, new: NewTask) -> CreatedTask:
        if new.idempotency_key.endswith("step-4"):
            self.writing.set()
            self.release.wait(10)
        return super().create_task(new)


async def test_pause_during_the_last_write_still_completes(time_env, sessions, tenant, executor):
    release, writing = threading.Event(), threading.Event()
    acts = HoldLastWrite(sessions, release, writing)
    worker = worker_with(time_env.client, acts, executor)
    async with worker:
        scheduled, handle = await schedule(time_env, worker, sessions, tenant, "aggressive")
        await time_env.sleep(timedelta(days=6, hours=23))
        # The server holds its clock while an activity runs, so this sleep ends after release.
        crossing = asyncio.create_task(time_env.sleep(timedelta(hours=2)))
        assert await asyncio.to_thread(writing.wait, 10)
        await handle.signal(SequenceWorkflow.pause)
        release.set()
        await crossing
        result = await finish(time_env, handle)
    assert (result.state, result.tasks_created) == ("completed", 4)
    assert batch(sessions, scheduled.batch_id).status == "completed"
