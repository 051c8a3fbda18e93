"""The client side of the sequence workflow: starting it (its id, search attributes and UI
summary), signalling it and asking where it stands."""

from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from nudge.core.contact_events import ContactEvent
from nudge.core.ids import (
    defined_sequence_workflow_id,
    enroll_job_workflow_id,
    sequence_workflow_id,
)
from nudge.core.vocabulary import SequenceAction
from nudge.platform.temporal import delivered, not_found, search_attributes
from nudge.sequences.payloads import EnrollJobInput, SequenceInput, SequenceProgress
from nudge.sequences.steps import DefinedProgress, DefinedSequenceInput, DefinitionSnapshot
from workflows.defined_sequence import DefinedSequenceWorkflow
from workflows.enroll_job import EnrollJobWorkflow
from workflows.sequence import SequenceWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)
SequenceHandle = WorkflowHandle[SequenceWorkflow, SequenceProgress]


def _memo(batch_id: int, job_id: int | None) -> dict[str, int]:
    """Whose run it is: its batch, and the bulk enrollment job that started it."""
    return {"batch_id": batch_id} | ({} if job_id is None else {"enroll_job_id": job_id})


async def start_sequence(
    client: Client, task_queue: str, inp: SequenceInput, *, contact_name: str
) -> SequenceHandle:
    """Start a sequence; raises WorkflowAlreadyStartedError while one with its id runs.

    A finished sequence may be started again (a new run and a new batch)."""
    return await client.start_workflow(
        SequenceWorkflow.run,
        inp,
        id=sequence_workflow_id(inp.owner_id, inp.contact_id, inp.sequence_type),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=search_attributes(inp.owner_id, inp.contact_id, "sequence"),
        memo=_memo(inp.batch_id, inp.enroll_job_id),
        static_summary=f"{inp.sequence_type.capitalize()} follow-up sequence for {contact_name}",
        static_details=(
            f"Owner {inp.owner_id}, contact {inp.contact_id}, batch {inp.batch_id}; "
            f"start delay {inp.start_delay_hours} h."
        ),
    )


async def start_defined_sequence(
    client: Client, task_queue: str, inp: DefinedSequenceInput, *, contact_name: str
) -> WorkflowHandle:
    """Start an enrollment in a custom sequence; WorkflowAlreadyStartedError while one runs."""
    snap = inp.snapshot
    return await client.start_workflow(
        DefinedSequenceWorkflow.run,
        inp,
        id=defined_sequence_workflow_id(inp.owner_id, inp.contact_id, snap.definition_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=search_attributes(inp.owner_id, inp.contact_id, "sequence"),
        memo=_memo(inp.batch_id, inp.enroll_job_id),
        static_summary=f"{snap.name} (v{snap.version}) for {contact_name}"[:200],
        static_details=(
            f"Owner {inp.owner_id}, contact {inp.contact_id}, batch {inp.batch_id}; "
            f"definition {snap.definition_id} version {snap.version}, {len(snap.steps)} steps; "
            f"start delay {inp.start_delay_hours} h."
        ),
    )


async def start_enroll_job(client: Client, task_queue: str, inp: EnrollJobInput) -> None:
    """The bulk enrollment's workflow: one per job."""
    await client.start_workflow(
        EnrollJobWorkflow.run,
        inp,
        id=enroll_job_workflow_id(inp.job_id),
        task_queue=task_queue,
        search_attributes=search_attributes(inp.owner_id, 0, "enroll_job"),
        static_summary=f"Bulk enrollment {inp.job_id} into definition {inp.definition_id}",
    )


async def cancel_enroll_job(client: Client, workflow_id: str, reason: str) -> bool:
    """Stop a bulk enrollment job (its definition is being deleted); False if it had ended."""
    return await _cancel(client.get_workflow_handle(workflow_id), reason)


async def adopt_version(client: Client, workflow_id: str, snap: DefinitionSnapshot) -> bool:
    """A live edit: the enrollment adopts `snap` for its steps not created yet; False when
    it isn't running."""
    handle = client.get_workflow_handle(workflow_id)
    return await delivered(handle.signal(DefinedSequenceWorkflow.adopt_version, snap))


async def tell_completed(client: Client, workflow_id: str, task_id: int) -> bool:
    """A task of an enrollment was completed: a step waiting for it may start its wait."""
    handle = client.get_workflow_handle(workflow_id)
    return await delivered(handle.signal(DefinedSequenceWorkflow.task_completed, task_id))


def defined_handle(
    client: Client, workflow_id: str
) -> WorkflowHandle[DefinedSequenceWorkflow, DefinedProgress]:
    return client.get_workflow_handle_for(DefinedSequenceWorkflow.run, workflow_id)


async def query_defined(
    handle: WorkflowHandle[DefinedSequenceWorkflow, DefinedProgress],
) -> DefinedProgress:
    return await handle.query(DefinedSequenceWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)


async def signal_sequence(
    client: Client, workflow_id: str, action: SequenceAction, reason: str | None = None
) -> bool:
    """Pause or resume (signals), or cancel; False when the sequence isn't running.

    Cancelling is a Temporal cancellation carrying the reason: the workflow records it on
    its batch and ends as Canceled, which is how the Temporal UI and CLI then show it."""
    handle = sequence_handle(client, workflow_id)
    if action == "pause":
        return await delivered(handle.signal(SequenceWorkflow.pause))
    if action == "resume":
        return await delivered(handle.signal(SequenceWorkflow.resume))
    return await _cancel(handle, reason or "cancelled")


async def _cancel(handle: WorkflowHandle, reason: str) -> bool:
    # Temporal accepts a cancellation of a closed run without a word: look first.
    try:
        running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as err:
        if not not_found(err):
            raise
        return False
    if running:
        await handle.cancel(reason=reason)
    return running


async def tell_sequence(client: Client, workflow_id: str, event: ContactEvent) -> bool:
    """A reply or a status change may end it; False when it isn't running."""
    handle = sequence_handle(client, workflow_id)
    return await delivered(handle.signal(SequenceWorkflow.contact_event, event))


def sequence_handle(client: Client, workflow_id: str) -> SequenceHandle:
    return client.get_workflow_handle_for(SequenceWorkflow.run, workflow_id)


async def query_sequence(handle: SequenceHandle) -> SequenceProgress:
    """Its live progress; a worker must answer within QUERY_TIMEOUT."""
    return await handle.query(SequenceWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
