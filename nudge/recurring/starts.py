"""The client side of a contact's recurring workflow: starting, reshaping, telling, stopping
and asking where it stands."""

from temporalio.client import Client, WorkflowHandle

from nudge.core.contact_events import ContactEvent
from nudge.core.ids import recurring_workflow_id
from nudge.platform.temporal import delivered, search_attributes
from nudge.recurring.payloads import CadenceChange, RecurringInput, RecurringProgress
from workflows.recurring import RecurringWorkflow


async def start_or_reshape_recurring(
    client: Client,
    task_queue: str,
    inp: RecurringInput,
    contact_name: str,
    *,
    keep_template: bool = True,
) -> WorkflowHandle[RecurringWorkflow, RecurringProgress]:
    """Signal-with-start: a running cadence is reshaped, a missing one starts. Either way
    exactly one `recurring-{owner}-{contact}` runs. With `keep_template` a running one keeps
    its own template (reconcile, a cadence set on the contact)."""
    return await client.start_workflow(
        RecurringWorkflow.run,
        inp,
        id=recurring_workflow_id(inp.owner_id, inp.contact_id),
        task_queue=task_queue,
        start_signal="change_cadence",
        start_signal_args=[
            CadenceChange(
                cadence=inp.cadence,
                template=None if keep_template else inp.template,
                placement=inp.placement,
                calendar=inp.calendar,
            )
        ],
        search_attributes=search_attributes(inp.owner_id, inp.contact_id, "recurring"),
        static_summary=f"Recurring check-ins with {contact_name}",
    )


async def stop_recurring_workflow(client: Client, workflow_id: str, reason: str) -> bool:
    """Signal `stop`; False when no such workflow runs (already stopped is fine)."""
    handle = client.get_workflow_handle_for(RecurringWorkflow.run, workflow_id)
    return await delivered(handle.signal(RecurringWorkflow.stop, reason))


async def tell_recurring(client: Client, workflow_id: str, event: ContactEvent) -> bool:
    """Lost or inactive ends the check-ins; False when none run."""
    handle = client.get_workflow_handle_for(RecurringWorkflow.run, workflow_id)
    return await delivered(handle.signal(RecurringWorkflow.contact_event, event))


async def query_recurring(client: Client, workflow_id: str) -> RecurringProgress:
    """Its live progress (RPCError NOT_FOUND when none ran under this id)."""
    handle = client.get_workflow_handle_for(RecurringWorkflow.run, workflow_id)
    return await handle.query(RecurringWorkflow.progress)
