"""Pause, resume and cancel: signals (and for cancel, a Temporal cancellation) to the
running sequence; and a completed task's word to the custom sequence that made it."""

from temporalio.client import Client

from nudge.core.errors import Conflict
from nudge.core.ids import DEFINED_SEQUENCE
from nudge.core.models import Task, TaskBatch
from nudge.core.vocabulary import SequenceAction
from nudge.sequences.starts import signal_sequence, tell_completed


async def control_sequence(
    client: Client, batch: TaskBatch, action: SequenceAction, reason: str | None = None
) -> None:
    """Deliver it; a sequence that has ended is a 409 naming its state."""
    if not await signal_sequence(client, batch.workflow_id, action, reason):
        known = f" ({batch.status})" if batch.status != "running" else ""
        raise Conflict(
            f"sequence {batch.workflow_id!r} has already ended{known}; there is nothing to {action}"
        )


async def task_done(client: Client, task: Task) -> bool:
    """Tell the custom sequence that made this task it was completed (a step may wait for
    that); False when it wasn't made by one, or that enrollment has ended."""
    if not task.workflow_id or DEFINED_SEQUENCE.parse(task.workflow_id) is None:
        return False
    return await tell_completed(client, task.workflow_id, task.id)
