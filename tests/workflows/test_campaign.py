"""CampaignEnrollmentWorkflow on the time-skipping server, over real campaign rows: each step
comes `delay_days` after the one before, task steps write keyed tasks and other steps are
recorded skips; a cancel or a reply ends the enrollment and no later step runs."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nudge.campaigns.payloads import EnrollmentInput, EnrollmentProgress
from nudge.campaigns.steps import step_specs
from nudge.core.contact_events import ContactEvent
from nudge.core.ids import campaign_workflow_id
from nudge.core.models import AutomationStep, Campaign, Enrollment, StepRun, Task, TaskBatch
from nudge.platform.db import transaction
from tests.conftest import Tenant
from tests.support import poll
from workflows.campaign import CampaignEnrollmentWorkflow

from .helpers import batch, tasks_of

# (message type, name, delay in days after the previous step): tasks on day 0 and day 3.
STEPS = [("task", "Intro call", 0), ("email", "Case study", 1), ("task", "Follow-up call", 2)]
EMAIL_SKIP = "email steps are not handled by this service"


@dataclass
class Enrolled:
    inp: EnrollmentInput
    workflow_id: str
    step_ids: list[int]


def enroll(sessions: sessionmaker[Session], tenant: Tenant) -> Enrolled:
    """The rows enrolling writes: campaign and steps, the batch, the enrollment."""
    with transaction(sessions) as session:
        campaign = Campaign(owner_id=tenant.owner_id, name=f"Trial nurture {uuid.uuid4().hex[:6]}")
        session.add(campaign)
        session.flush()
        steps = [
            AutomationStep(campaign_id=campaign.id, order=order, message_type=kind, name=name,
                           body=f"{name} notes", delay_days=days)
            for order, (kind, name, days) in enumerate(STEPS, 1)
        ]  # fmt: skip
        session.add_all(steps)
        workflow_id = campaign_workflow_id(campaign.id, tenant.contact_id)
        task_batch = TaskBatch(
            owner_id=tenant.owner_id,
            kind="campaign",
            name=campaign.name,
            contact_id=tenant.contact_id,
            workflow_id=workflow_id,
            planned=2,
            params={"campaign_id": campaign.id},
        )
        session.add(task_batch)
        session.flush()
        enrollment = Enrollment(
            owner_id=tenant.owner_id,
            campaign_id=campaign.id,
            contact_id=tenant.contact_id,
            batch_id=task_batch.id,
            workflow_id=workflow_id,
        )
        session.add(enrollment)
        session.flush()
        inp = EnrollmentInput(
            owner_id=tenant.owner_id,
            campaign_id=campaign.id,
            contact_id=tenant.contact_id,
            enrollment_id=enrollment.id,
            batch_id=task_batch.id,
            steps=step_specs(session, campaign.id),
        )
        return Enrolled(inp, workflow_id, [s.id for s in steps])


async def start(env: WorkflowEnvironment, worker: Worker, enrolled: Enrolled) -> WorkflowHandle:
    return await env.client.start_workflow(
        CampaignEnrollmentWorkflow.run,
        enrolled.inp,
        id=enrolled.workflow_id,
        task_queue=worker.task_queue,
    )


def step_runs(sessions: sessionmaker[Session], enrollment_id: int) -> list[tuple]:
    """(step id, state, reason, task id) per step run so far, in step order."""
    with sessions() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(StepRun.step_id, StepRun.state, StepRun.reason, StepRun.task_id)
                .where(StepRun.enrollment_id == enrollment_id)
                .order_by(StepRun.step_id)
            )
        ]


async def tasks_until(sessions: sessionmaker[Session], batch_id: int, count: int) -> list[Task]:
    """The batch's tasks once there are `count` (the step may still be writing)."""

    async def fetch() -> list[Task]:
        return tasks_of(sessions, batch_id)

    return await poll(fetch, lambda tasks: len(tasks) >= count)


async def started_at(handle: WorkflowHandle) -> datetime:
    """The workflow's start time: day 0 of its steps."""
    start = (await handle.describe()).start_time
    assert start is not None
    return start


async def test_steps_run_on_their_days_and_the_email_is_a_recorded_skip(
    time_env, time_worker, sessions, tenant
):
    enrolled = enroll(sessions, tenant)
    inp, (intro, email, follow_up) = enrolled.inp, enrolled.step_ids
    handle = await start(time_env, time_worker, enrolled)
    day0 = await started_at(handle)

    [first] = await tasks_until(sessions, inp.batch_id, 1)  # day 0: at once
    await time_env.sleep(timedelta(days=3) - timedelta(hours=1))
    # Day 1's email came and went as a skip; day 3's task is not there yet.
    assert len(tasks_of(sessions, inp.batch_id)) == 1
    assert step_runs(sessions, inp.enrollment_id) == [
        (intro, "created", None, first.id),
        (email, "skipped", EMAIL_SKIP, None),
    ]
    progress: EnrollmentProgress = await handle.query(CampaignEnrollmentWorkflow.progress)
    assert (progress.state, progress.steps_done) == ("running", 2)
    assert progress.next_due_at == day0 + timedelta(days=3)

    await time_env.sleep(timedelta(hours=2))
    assert len(await tasks_until(sessions, inp.batch_id, 2)) == 2
    result: EnrollmentProgress = await handle.result()

    assert result == EnrollmentProgress(
        state="completed", steps_done=3, next_due_at=None, stop_reason=None
    )
    tasks = tasks_of(sessions, inp.batch_id)
    assert [t.due_at for t in tasks] == [day0, day0 + timedelta(days=3)]
    assert [t.idempotency_key for t in tasks] == [
        f"campaign-{inp.campaign_id}-{tenant.contact_id}-step-{intro}",
        f"campaign-{inp.campaign_id}-{tenant.contact_id}-step-{follow_up}",
    ]
    assert [(t.title, t.description) for t in tasks] == [
        ("Intro call: Ada Lovelace", "Intro call notes"),
        ("Follow-up call: Ada Lovelace", "Follow-up call notes"),
    ]
    assert {(t.owner_id, t.contact_id, t.source, t.workflow_id) for t in tasks} == {
        (tenant.owner_id, tenant.contact_id, f"campaign:{inp.campaign_id}", enrolled.workflow_id)
    }
    assert step_runs(sessions, inp.enrollment_id) == [
        (intro, "created", None, tasks[0].id),
        (email, "skipped", EMAIL_SKIP, None),
        (follow_up, "created", None, tasks[1].id),
    ]
    saved = batch(sessions, inp.batch_id)
    assert (saved.status, saved.stop_reason) == ("completed", None)
    assert saved.finished_at is not None


async def test_cancel_mid_way_ends_the_batch_and_runs_no_later_step(
    time_env, time_worker, sessions, tenant
):
    enrolled = enroll(sessions, tenant)
    inp, (intro, email, _) = enrolled.inp, enrolled.step_ids
    handle = await start(time_env, time_worker, enrolled)
    await tasks_until(sessions, inp.batch_id, 1)
    await time_env.sleep(timedelta(days=2))  # the email (day 1) done, the last task due day 3
    await handle.signal(CampaignEnrollmentWorkflow.cancel, "deal closed elsewhere")
    result: EnrollmentProgress = await handle.result()
    await time_env.sleep(timedelta(days=3))  # past the day the last step was due

    assert result == EnrollmentProgress(
        state="cancelled", steps_done=2, next_due_at=None, stop_reason="deal closed elsewhere"
    )
    assert len(tasks_of(sessions, inp.batch_id)) == 1
    assert [run[:2] for run in step_runs(sessions, inp.enrollment_id)] == [
        (intro, "created"),
        (email, "skipped"),
    ]
    saved = batch(sessions, inp.batch_id)
    assert (saved.status, saved.stop_reason) == ("cancelled", "deal closed elsewhere")


async def test_a_reply_stops_the_enrollment_and_an_open_does_not(
    time_env, time_worker, sessions, tenant
):
    enrolled = enroll(sessions, tenant)
    inp = enrolled.inp
    handle = await start(time_env, time_worker, enrolled)
    await tasks_until(sessions, inp.batch_id, 1)
    await time_env.sleep(timedelta(hours=12))
    await handle.signal(CampaignEnrollmentWorkflow.contact_event, ContactEvent(type="email_opened"))
    progress: EnrollmentProgress = await handle.query(CampaignEnrollmentWorkflow.progress)
    assert progress.state == "running"  # an open is no reason to stop
    await handle.signal(
        CampaignEnrollmentWorkflow.contact_event, ContactEvent(type="email_replied")
    )
    result: EnrollmentProgress = await handle.result()

    assert result == EnrollmentProgress(
        state="stopped", steps_done=1, next_due_at=None, stop_reason="contact event: email_replied"
    )
    assert len(tasks_of(sessions, inp.batch_id)) == 1
    assert len(step_runs(sessions, inp.enrollment_id)) == 1
    saved: TaskBatch = batch(sessions, inp.batch_id)
    assert (saved.status, saved.stop_reason) == ("stopped", "contact event: email_replied")
