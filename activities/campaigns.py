"""A campaign step for one enrolled contact: a task step writes a task, any other type is
recorded as skipped, so the step order still holds."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nudge.campaigns.payloads import StepOutcome, StepSpec
from nudge.core.ids import campaign_step_key
from nudge.core.models import Contact, Enrollment, StepRun
from nudge.platform import metrics
from nudge.platform.db import transaction
from nudge.tasks.payloads import NewTask
from nudge.tasks.writer import insert_task


class CampaignActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def run_step(self, enrollment_id: int, step: StepSpec, due_at: datetime) -> StepOutcome:
        """Idempotent: the step run row (unique per enrollment and step) is written with the
        task in one transaction; a retry finds it and answers the same."""
        try:
            with transaction(self.sessions) as session:
                outcome = self._run(session, enrollment_id, step, due_at)
        except IntegrityError:
            with self.sessions() as session:
                run = session.scalar(
                    select(StepRun).where(
                        StepRun.enrollment_id == enrollment_id, StepRun.step_id == step.step_id
                    )
                )
                if run is None:
                    raise
                return StepOutcome(state=run.state, reason=run.reason, task_id=run.task_id)
        if outcome.state == "created":  # committed by this call, with its step run
            metrics.task_created("campaign")
        return outcome

    def _run(
        self, session: Session, enrollment_id: int, step: StepSpec, due_at: datetime
    ) -> StepOutcome:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        if step.message_type != "task":
            outcome = StepOutcome(
                state="skipped", reason=f"{step.message_type} steps are not handled by this service"
            )
        else:
            contact = session.get(Contact, enrollment.contact_id)
            task = insert_task(
                session,
                NewTask(
                    idempotency_key=campaign_step_key(
                        enrollment.campaign_id, enrollment.contact_id, step.step_id
                    ),
                    owner_id=enrollment.owner_id,
                    contact_id=enrollment.contact_id,
                    workflow_id=enrollment.workflow_id,
                    batch_id=enrollment.batch_id,
                    source=f"campaign:{enrollment.campaign_id}",
                    title=f"{step.name}: {contact.name}" if contact else step.name,
                    description=step.body,
                    due_at=due_at,
                ),
            )
            outcome = StepOutcome(state="created", task_id=task.id)
        session.add(
            StepRun(
                enrollment_id=enrollment_id,
                step_id=step.step_id,
                state=outcome.state,
                reason=outcome.reason,
                task_id=outcome.task_id,
            )
        )
        session.flush()
        return outcome
