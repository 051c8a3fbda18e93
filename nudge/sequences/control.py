"""Pause, resume and cancel: signals (and for cancel, a Temporal cancellation) to the
running sequence."""

from temporalio.client import Client

from nudge.core.errors import Conflict
from nudge.core.models import TaskBatch
from nudge.core.vocabulary import SequenceAction
from nudge.sequences.starts import signal_sequence


async def control_sequence(
    client: Client, batch: TaskBatch, action: SequenceAction, reason: str | None = None
) -> None:
    """Deliver it; a sequence that has ended is a 409 naming its state."""
    if not await signal_sequence(client, batch.workflow_id, action, reason):
        known = f" ({batch.status})" if batch.status != "running" else ""
        raise Conflict(
            f"sequence {batch.workflow_id!r} has already ended{known}; there is nothing to {action}"
        )
