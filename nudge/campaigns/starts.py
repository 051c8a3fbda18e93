"""Starting a campaign enrollment workflow (one per campaign and contact, ever)."""

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from nudge.campaigns.payloads import EnrollmentInput
from nudge.core.contact_events import ContactEvent
from nudge.core.ids import campaign_workflow_id
from nudge.platform.temporal import delivered, search_attributes, started_once
from workflows.campaign import CampaignEnrollmentWorkflow


async def start_enrollment(client: Client, task_queue: str, inp: EnrollmentInput) -> bool:
    """Start its workflow once; False when it was already started (or has finished)."""
    return await started_once(
        client.start_workflow(
            CampaignEnrollmentWorkflow.run,
            inp,
            id=campaign_workflow_id(inp.campaign_id, inp.contact_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes(inp.owner_id, inp.contact_id, "campaign"),
            static_summary=f"Campaign {inp.campaign_id} for contact {inp.contact_id}",
        )
    )


async def tell_enrollment(client: Client, workflow_id: str, event: ContactEvent) -> bool:
    """A reply or a status change may end it; False when it isn't running."""
    handle = client.get_workflow_handle_for(CampaignEnrollmentWorkflow.run, workflow_id)
    return await delivered(handle.signal(CampaignEnrollmentWorkflow.contact_event, event))
