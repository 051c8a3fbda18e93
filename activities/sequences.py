"""Activities of custom sequence enrollments. Each one is safe to run twice."""

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.tasks import begin_run, logged, run_contact
from nudge.core.errors import TEMPLATE_PROBLEM, permanent
from nudge.core.ids import defined_step_key
from nudge.core.models import Task
from nudge.core.priority import resolve
from nudge.core.templating import TemplateProblem
from nudge.sequences.batches import defined_batch
from nudge.sequences.render import render_step
from nudge.sequences.steps import (
    DefinedSequenceInput,
    DefinedStepTask,
    TaskCheck,
    reminder_at,
)
from nudge.tasks.payloads import ContactCard, CreatedTask, NewTask
from nudge.tasks.writer import write_task_once


class DefinedSequenceActivities:
    """Sync activities (run in the worker's thread pool) over one session factory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def begin_defined_sequence(self, inp: DefinedSequenceInput) -> ContactCard:
        """The contact to address; its batch row written back if missing (begin_run)."""
        return begin_run(
            self.sessions,
            inp.owner_id,
            inp.contact_id,
            inp.batch_id,
            lambda contact: defined_batch(
                contact,
                inp.snapshot,
                inp.start_delay_hours,
                batch_id=inp.batch_id,
                job_id=inp.enroll_job_id,
            ),
        )

    @activity.defn
    def create_defined_step(self, spec: DefinedStepTask) -> CreatedTask:
        """One task per enrollment and step id, rendered from the step's templates."""
        with self.sessions() as session:
            contact = run_contact(session, spec.owner_id, spec.contact_id)
        try:
            rendered = render_step(
                spec.step,
                contact,
                step_number=spec.step_number,
                step_count=spec.step_count,
                sequence_name=spec.sequence_name,
                due_at=spec.due_at,
            )
        except TemplateProblem as err:
            raise permanent(TEMPLATE_PROBLEM, f"step {spec.step.id}: {err}") from None
        new = NewTask(
            idempotency_key=defined_step_key(spec.batch_id, spec.step.id),
            owner_id=spec.owner_id,
            contact_id=spec.contact_id,
            batch_id=spec.batch_id,
            workflow_id=spec.workflow_id,
            source=f"sequence:def-{spec.definition_id}",
            kind=spec.step.kind,
            title=rendered.title,
            description=rendered.description,
            priority=resolve(spec.step.priority, contact.score),  # the score as it is now
            due_at=spec.due_at,
            reminder_at=reminder_at(spec.step, spec.due_at),
        )
        return logged(write_task_once(self.sessions, new), new)

    @activity.defn
    def check_task(self, task_id: int) -> TaskCheck:
        """Where a task stands (the slow path behind the completion signal)."""
        with self.sessions() as session:
            task = session.get(Task, task_id)
        if task is None:
            return TaskCheck(status=None, completed_at=None)
        return TaskCheck(status=task.status, completed_at=task.completed_at)
