"""Custom sequences under retries and duplicates: a step write retried after it committed,
twenty identical enrollment clicks, a completion told twice, a live edit delivered twice:
exactly the tasks that should exist."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from temporalio import activity
from temporalio.worker import Worker

from activities.sequences import DefinedSequenceActivities
from activities.tasks import TaskActivities
from nudge.core.models import SequenceDefinition, Task, TaskBatch
from nudge.platform.db import transaction
from nudge.sequences.definition_schemas import DefinitionIn
from nudge.sequences.definitions import create_definition, snapshot
from nudge.sequences.start import schedule_sequence
from nudge.sequences.starts import adopt_version
from nudge.sequences.steps import DefinedStepTask
from nudge.tasks.payloads import CreatedTask
from tests.support import auth
from workflows.defined_sequence import DefinedSequenceWorkflow

STEPS = [
    {"id": "a", "kind": "call", "wait": {"hours": 1}, "anchor": "enrollment",
     "title_template": "a {{ contact_name }}"},
    {"id": "b", "kind": "email", "wait": {"hours": 1}, "title_template": "b"},
    {"id": "c", "kind": "todo", "wait": {"hours": 1}, "anchor": "previous_completed",
     "title_template": "c"},
]  # fmt: skip


def define(sessions, owner_id: int, steps: list[dict] = STEPS) -> int:  # type: ignore[no-untyped-def]
    body = DefinitionIn.model_validate({"name": f"r-{uuid.uuid4().hex[:6]}", "steps": steps})
    with transaction(sessions) as session:
        return create_definition(session, owner_id, body).id


class CrashAfterCommit(DefinedSequenceActivities):
    """Commits the step's task, then fails the first attempt as if the worker died before
    reporting success; Temporal retries it."""

    @activity.defn(name="create_defined_step")
    def create_defined_step(self, spec: DefinedStepTask) -> CreatedTask:
        result = super().create_defined_step(spec)
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the insert committed")
        return result


def tasks_of(sessions, batch_id: int) -> list[Task]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Task).where(Task.batch_id == batch_id)))


async def test_a_step_retried_after_commit_leaves_one_task(time_env, sessions, tenant, executor):
    acts, tasks = CrashAfterCommit(sessions), TaskActivities(sessions)
    worker = Worker(
        time_env.client,
        task_queue=f"tq-{uuid.uuid4()}",
        workflows=[DefinedSequenceWorkflow],
        activities=[
            acts.begin_defined_sequence,
            acts.create_defined_step,
            acts.check_task,
            tasks.finish_batch,
        ],
        activity_executor=executor,
    )
    steps = [dict(s, anchor="previous_due") if s["id"] == "c" else s for s in STEPS]
    definition_id = define(sessions, tenant.owner_id, steps)
    async with worker:
        started = await schedule_sequence(
            time_env.client,
            sessions,
            task_queue=worker.task_queue,
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            definition_id=definition_id,
        )
        handle = time_env.client.get_workflow_handle_for(
            DefinedSequenceWorkflow.run, started.workflow_id
        )
        # The same live edit delivered twice changes nothing the second time.
        with sessions() as session:
            definition = session.get(SequenceDefinition, definition_id)
            assert definition is not None
            snap = snapshot(session, definition)
        bumped = snap.model_copy(update={"version": 2})
        assert await adopt_version(time_env.client, started.workflow_id, bumped)
        assert await adopt_version(time_env.client, started.workflow_id, bumped)
        async with time_env.time_skipping_unlocked():  # type: ignore[attr-defined]
            result = await handle.result()
    made = tasks_of(sessions, started.batch_id)
    assert sorted(t.title.split(" ")[0] for t in made) == ["a", "b", "c"]
    assert result.tasks_created == 3 and len(result.migrations) == 1
    attempts = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_started_event_attributes"):
            attempts.append(event.activity_task_started_event_attributes.attempt)
    assert attempts.count(2) == 3  # each step's write ran twice, and wrote once


async def test_twenty_identical_clicks_enroll_once(api, time_env, tenant, sessions):
    definition_id = define(sessions, tenant.owner_id)
    body = {"contact_id": tenant.contact_id, "definition_id": definition_id}
    answers = await asyncio.gather(
        *(
            api.post("/api/task-automation/schedule-sequence/", json=body, headers=auth(tenant))
            for _ in range(20)
        )
    )
    assert sorted(r.status_code for r in answers) == [200] * 19 + [201]
    assert len({(r.json()["workflow_id"], r.json()["batch_id"]) for r in answers}) == 1
    with sessions() as session:
        count = session.scalar(select(func.count()).where(TaskBatch.owner_id == tenant.owner_id))
    assert count == 1

    # Step b's task completed twice (two clicks): c is made once, an hour after.
    workflow_id = answers[0].json()["workflow_id"]
    await time_env.sleep(timedelta(hours=2, minutes=5))
    batch_id = answers[0].json()["batch_id"]
    b = next(t for t in tasks_of(sessions, batch_id) if t.title == "b")
    clicks = await asyncio.gather(
        *(api.post(f"/api/tasks/{b.id}/complete/", headers=auth(tenant)) for _ in range(2))
    )
    assert [r.status_code for r in clicks] == [200, 200]
    await time_env.sleep(timedelta(hours=2))
    progress = await api.get(f"/api/task-automation/sequences/{workflow_id}/", headers=auth(tenant))
    assert progress.json()["state"] == "completed", progress.json()
    assert sorted(t.title.split(" ")[0] for t in tasks_of(sessions, batch_id)) == ["a", "b", "c"]
