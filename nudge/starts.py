"""How each workflow is started: its id, search attributes and UI summary, in one place."""

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from nudge.contracts import (
    CadenceChange,
    FiringInput,
    RecurringInput,
    RecurringProgress,
    SequenceInput,
    SequenceProgress,
)
from nudge.temporal import CONTACT_ID, KIND, OWNER_ID, sequence_workflow_id
from workflows.recurring import RecurringWorkflow, recurring_workflow_id
from workflows.rule_firing import RuleFiringWorkflow
from workflows.sequence import SequenceWorkflow


def nudge_search_attributes(owner_id: int, contact_id: int, kind: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(OWNER_ID, str(owner_id)),
            SearchAttributePair(CONTACT_ID, str(contact_id)),
            SearchAttributePair(KIND, kind),
        ]
    )


async def start_sequence(
    client: Client, task_queue: str, inp: SequenceInput, *, contact_name: str
) -> WorkflowHandle[SequenceWorkflow, SequenceProgress]:
    """Start a sequence; raises WorkflowAlreadyStartedError while one with its id runs.

    A finished sequence may be started again (a new run and a new batch)."""
    return await client.start_workflow(
        SequenceWorkflow.run,
        inp,
        id=sequence_workflow_id(inp.owner_id, inp.contact_id, inp.sequence_type),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=nudge_search_attributes(inp.owner_id, inp.contact_id, "sequence"),
        memo={"batch_id": inp.batch_id},
        static_summary=f"{inp.sequence_type.capitalize()} follow-up sequence for {contact_name}",
        static_details=(
            f"Owner {inp.owner_id}, contact {inp.contact_id}, batch {inp.batch_id}; "
            f"start delay {inp.start_delay_hours} h."
        ),
    )


async def start_rule_firing(
    client: Client, task_queue: str, inp: FiringInput, workflow_id: str, rule_name: str
) -> None:
    """Start a firing once; a redelivered event finds it started (or already finished)."""
    try:
        await client.start_workflow(
            RuleFiringWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=nudge_search_attributes(inp.owner_id, inp.contact_id, "rule"),
            static_summary=f"Rule {rule_name!r} firing for contact {inp.contact_id}",
        )
    except WorkflowAlreadyStartedError:
        pass


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
            CadenceChange(cadence=inp.cadence, template=None if keep_template else inp.template)
        ],
        search_attributes=nudge_search_attributes(inp.owner_id, inp.contact_id, "recurring"),
        static_summary=f"Recurring check-ins with {contact_name}",
    )
