"""Pause, resume and cancel: signals to the running sequence."""

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from nudge.errors import Conflict
from nudge.models import TaskBatch


async def signal_sequence(client: Client, batch: TaskBatch, signal: str, *args: object) -> None:
    """Deliver a signal; a sequence that has ended is a 409 naming its state."""
    try:
        await client.get_workflow_handle(batch.workflow_id).signal(signal, *args)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            known = f" ({batch.status})" if batch.status != "running" else ""
            raise Conflict(
                f"sequence {batch.workflow_id!r} has already ended{known}; "
                f"there is nothing to {signal}"
            ) from None
        raise
