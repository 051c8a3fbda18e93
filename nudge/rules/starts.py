"""Starting a rule firing workflow (its id is the firing's, so a redelivery starts none)."""

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from nudge.platform.temporal import search_attributes, started_once
from nudge.rules.payloads import FiringInput
from workflows.rule_firing import RuleFiringWorkflow


async def start_rule_firing(
    client: Client, task_queue: str, inp: FiringInput, workflow_id: str, rule_name: str
) -> bool:
    """Start a firing once; a redelivered event finds it started (or already finished)."""
    return await started_once(
        client.start_workflow(
            RuleFiringWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes(inp.owner_id, inp.contact_id, "rule"),
            static_summary=f"Rule {rule_name!r} firing for contact {inp.contact_id}",
        )
    )
