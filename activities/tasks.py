"""Activities that write tasks and batches. Each one is safe to run twice."""

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nudge.core.errors import CONTACT_GONE, TEMPLATE_PROBLEM, permanent
from nudge.core.ids import cadence_key
from nudge.core.models import Contact, TaskBatch, utcnow
from nudge.core.templating import MAX_DESCRIPTION, MAX_TITLE, TemplateProblem, render
from nudge.platform.db import transaction
from nudge.recurring.payloads import CadenceTask
from nudge.sequences.batches import sequence_batch
from nudge.sequences.payloads import SequenceInput
from nudge.tasks.payloads import BatchOutcome, ContactCard, CreatedTask, NewTask
from nudge.tasks.writer import write_task_once


def logged(result: CreatedTask, new: NewTask) -> CreatedTask:
    """Say what the write did; activity.logger adds the workflow and activity to the record."""
    activity.logger.info(
        "task written" if result.created else "task already written",
        extra={"owner_id": new.owner_id, "task_id": result.task_id, "source": new.source},
    )
    return result


def run_contact(session: Session, owner_id: int, contact_id: int) -> Contact:
    """The contact a run addresses; a permanent CONTACT_GONE once it is deleted."""
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.owner_id == owner_id)
    )
    if contact is None:
        raise permanent(CONTACT_GONE, f"contact {contact_id} no longer exists")
    return contact


def begin_run(
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    batch_id: int,
    batch: Callable[[Contact], TaskBatch],
) -> ContactCard:
    """A sequence run's first activity: the contact to address, and its batch row, written
    back from `batch` if missing (the API writes it first, but drops it when a start's
    outcome was unclear)."""
    with transaction(sessions) as session:
        contact = run_contact(session, owner_id, contact_id)
        if session.get(TaskBatch, batch_id) is None:
            session.add(batch(contact))
        return ContactCard(name=contact.name, email=contact.email)


class TaskActivities:
    """Sync activities (run in the worker's thread pool) over one session factory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def begin_sequence(self, inp: SequenceInput) -> ContactCard:
        """The contact to address; its batch row written back if missing (begin_run)."""
        return begin_run(
            self.sessions,
            inp.owner_id,
            inp.contact_id,
            inp.batch_id,
            lambda contact: sequence_batch(
                contact,
                inp.sequence_type,
                inp.start_delay_hours,
                batch_id=inp.batch_id,
                job_id=inp.enroll_job_id,
            ),
        )

    @activity.defn
    def create_task(self, new: NewTask) -> CreatedTask:
        return logged(write_task_once(self.sessions, new), new)

    @activity.defn
    def finish_batch(self, outcome: BatchOutcome) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(TaskBatch)
                .where(TaskBatch.id == outcome.batch_id, TaskBatch.status == "running")
                .values(status=outcome.status, stop_reason=outcome.reason, finished_at=utcnow())
            )

    @activity.defn
    def create_cadence_task(self, spec: CadenceTask) -> CreatedTask:
        """One task per occurrence: the key holds the occurrence's date (its cadence date,
        not where placement moved it: two occurrences placed on one Monday are two tasks)."""
        with self.sessions() as session:
            contact = run_contact(session, spec.owner_id, spec.contact_id)
        values = {"contact_name": contact.name, "cadence": spec.cadence}
        if contact.email:
            values["contact_email"] = contact.email
        try:
            title = render(spec.template.title, values, MAX_TITLE)
            description = render(spec.template.description, values, MAX_DESCRIPTION)
        except TemplateProblem as err:
            raise permanent(TEMPLATE_PROBLEM, f"template: {err}") from None
        new = NewTask(
            idempotency_key=cadence_key(
                spec.owner_id, spec.contact_id, spec.occurrence or spec.due_at.date()
            ),
            owner_id=spec.owner_id,
            contact_id=spec.contact_id,
            workflow_id=spec.workflow_id,
            source=f"cadence:{spec.cadence}",
            title=title,
            description=description,
            priority=spec.template.priority,
            due_at=spec.due_at,
        )
        return logged(write_task_once(self.sessions, new), new)
