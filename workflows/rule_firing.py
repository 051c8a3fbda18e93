"""One rule matched one event: wait out the delay, then write the task (or say why not)."""

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

from workflows.timing import sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.rules import RuleActivities
    from nudge.core.ids import reminder_workflow_id
    from nudge.reminders.payloads import ReminderInput
    from nudge.rules.payloads import FiringInput, FiringOutcome
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT
    from workflows.reminder import ReminderWorkflow


@workflow.defn
class RuleFiringWorkflow:
    @workflow.run
    async def run(self, inp: FiringInput) -> FiringOutcome:
        await sleep_until(inp.create_at, f"Delay until {inp.create_at:%Y-%m-%d %H:%M}")
        outcome = await workflow.execute_activity_method(
            RuleActivities.fire_rule,
            inp.firing_id,
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary="Re-check rule and contact, render, write the task",
        )
        if outcome.state == "created" and outcome.task_id and outcome.reminder_at:
            # The firing stays open until its task's reminder is done (or cancelled because
            # the task was completed first), so one workflow tells the whole story.
            try:
                await workflow.execute_child_workflow(
                    ReminderWorkflow.run,
                    ReminderInput(
                        owner_id=inp.owner_id,
                        task_id=outcome.task_id,
                        remind_at=outcome.reminder_at,
                    ),
                    id=reminder_workflow_id(outcome.task_id),
                    static_summary=f"Reminder for task {outcome.task_id}",
                )
            except (ChildWorkflowError, WorkflowAlreadyStartedError):
                pass  # cancelled with its task, or already running: the task row tells
        return outcome
