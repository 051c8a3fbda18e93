"""The batch row that tracks one run of a sequence (shared by the API and the worker)."""

from nudge.models import Contact, TaskBatch
from nudge.schedule import SEQUENCE_PRESETS
from nudge.temporal import sequence_workflow_id


def sequence_batch(
    contact: Contact, sequence_type: str, start_delay_hours: float, batch_id: int | None = None
) -> TaskBatch:
    return TaskBatch(
        id=batch_id,
        owner_id=contact.owner_id,
        kind="sequence",
        name=f"{sequence_type} sequence for {contact.name}",
        contact_id=contact.id,
        workflow_id=sequence_workflow_id(contact.owner_id, contact.id, sequence_type),
        planned=len(SEQUENCE_PRESETS[sequence_type]),
        params={"sequence_type": sequence_type, "start_delay_hours": start_delay_hours},
    )
