"""Activities that write tasks and batches. Each one is safe to run twice."""

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nudge.batches import sequence_batch
from nudge.contracts import (
    BatchOutcome,
    CadenceTask,
    ContactCard,
    CreatedTask,
    NewTask,
    SequenceInput,
)
from nudge.db import transaction
from nudge.models import BatchStatus, Contact, Task, TaskBatch, utcnow
from nudge.templating import MAX_DESCRIPTION, MAX_TITLE, TemplateProblem, render


class TaskActivities:
    """Sync activities (run in the worker's thread pool) over one session factory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def begin_sequence(self, inp: SequenceInput) -> ContactCard:
        """The contact to address; also makes sure the run's batch row exists (the API
        writes it first, but drops it when a start's outcome was unclear)."""
        with transaction(self.sessions) as session:
            contact = session.scalar(
                select(Contact).where(
                    Contact.id == inp.contact_id, Contact.owner_id == inp.owner_id
                )
            )
            if contact is None:
                raise ApplicationError(
                    f"contact {inp.contact_id} no longer exists",
                    type="ContactGone",
                    non_retryable=True,
                )
            if session.get(TaskBatch, inp.batch_id) is None:
                session.add(
                    sequence_batch(
                        contact, inp.sequence_type, inp.start_delay_hours, batch_id=inp.batch_id
                    )
                )
            return ContactCard(name=contact.name, email=contact.email)

    @activity.defn
    def create_task(self, new: NewTask) -> CreatedTask:
        existing = self._find(new.idempotency_key)
        if existing is not None:
            return CreatedTask(task_id=existing, created=False)
        try:
            with transaction(self.sessions) as session:
                task = Task(**new.model_dump())
                session.add(task)
                session.flush()
                return CreatedTask(task_id=task.id, created=True)
        except IntegrityError:
            # A concurrent attempt inserted the same key first; its row is the task.
            found = self._find(new.idempotency_key)
            if found is None:
                raise
            return CreatedTask(task_id=found, created=False)

    @activity.defn
    def finish_batch(self, outcome: BatchOutcome) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(TaskBatch)
                .where(TaskBatch.id == outcome.batch_id, TaskBatch.status == BatchStatus.running)
                .values(status=outcome.status, stop_reason=outcome.reason, finished_at=utcnow())
            )

    def _find(self, key: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(Task.id).where(Task.idempotency_key == key))

    @activity.defn
    def create_cadence_task(self, spec: CadenceTask) -> CreatedTask:
        """One task per occurrence: the key holds the occurrence's date."""
        with self.sessions() as session:
            contact = session.get(Contact, spec.contact_id)
        if contact is None or contact.owner_id != spec.owner_id:
            raise ApplicationError(
                "contact no longer exists", type="ContactGone", non_retryable=True
            )
        values = {"contact_name": contact.name, "cadence": spec.cadence}
        if contact.email:
            values["contact_email"] = contact.email
        try:
            title = render(spec.template.title, values, MAX_TITLE)
            description = render(spec.template.description, values, MAX_DESCRIPTION)
        except TemplateProblem as err:
            raise ApplicationError(
                f"template: {err}", type="TemplateProblem", non_retryable=True
            ) from None
        return self.create_task(
            NewTask(
                idempotency_key=f"{spec.workflow_id}-{spec.due_at.date().isoformat()}",
                owner_id=spec.owner_id,
                contact_id=spec.contact_id,
                workflow_id=spec.workflow_id,
                source=f"cadence:{spec.cadence}",
                title=title,
                description=description,
                priority=spec.template.priority,
                due_at=spec.due_at,
            )
        )
