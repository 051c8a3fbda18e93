"""The batch row that tracks one run of a sequence: written by the API, restored by the
worker when a start's outcome was unclear (see nudge.tasks.batches for listing batches)."""

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.core.ids import defined_sequence_workflow_id, sequence_workflow_id
from nudge.core.models import Contact, TaskBatch
from nudge.core.vocabulary import SequenceType
from nudge.sequences.presets import SEQUENCE_PRESETS
from nudge.sequences.steps import DefinitionSnapshot


def _batch(
    contact: Contact,
    name: str,
    workflow_id: str,
    planned: int,
    params: Mapping[str, object],
    batch_id: int | None,
    job_id: int | None,
) -> TaskBatch:
    """A bulk enrollment's batch names its job: a retried page knows its own start."""
    job = {} if job_id is None else {"enroll_job_id": job_id}
    return TaskBatch(
        id=batch_id,
        owner_id=contact.owner_id,
        kind="sequence",
        name=name[:200],
        contact_id=contact.id,
        workflow_id=workflow_id,
        planned=planned,
        params={**params, **job},
    )


def sequence_batch(
    contact: Contact,
    sequence_type: SequenceType,
    start_delay_hours: float,
    batch_id: int | None = None,
    job_id: int | None = None,
) -> TaskBatch:
    return _batch(
        contact,
        f"{sequence_type} sequence for {contact.name}",
        sequence_workflow_id(contact.owner_id, contact.id, sequence_type),
        len(SEQUENCE_PRESETS[sequence_type]),
        {"sequence_type": sequence_type, "start_delay_hours": start_delay_hours},
        batch_id,
        job_id,
    )


def defined_batch(
    contact: Contact,
    snapshot: DefinitionSnapshot,
    start_delay_hours: float,
    batch_id: int | None = None,
    job_id: int | None = None,
) -> TaskBatch:
    """The batch of one enrollment in a custom sequence; `planned` counts its version's steps."""
    params = {
        "definition_id": snapshot.definition_id,
        "version": snapshot.version,
        "start_delay_hours": start_delay_hours,
    }
    workflow_id = defined_sequence_workflow_id(contact.owner_id, contact.id, snapshot.definition_id)
    name = f"{snapshot.name} for {contact.name}"
    return _batch(contact, name, workflow_id, len(snapshot.steps), params, batch_id, job_id)


def job_batch(session: Session, owner_id: int, contact_id: int, job_id: int) -> int | None:
    """The batch a bulk enrollment job already opened for this contact, if any (its run may
    have ended since: a retried page must not start it again)."""
    rows = session.execute(
        select(TaskBatch.id, TaskBatch.params).where(
            TaskBatch.owner_id == owner_id,
            TaskBatch.contact_id == contact_id,
            TaskBatch.kind == "sequence",
        )
    )
    return next((r.id for r in rows if (r.params or {}).get("enroll_job_id") == job_id), None)
