"""A task's reminder: wake before the task is due, deliver once, unless it's done."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.timing import sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.reminders import ReminderActivities
    from nudge.contracts import ReminderInput

DB_TIMEOUT = timedelta(seconds=30)
# Backs off from 1 s to a minute and gives up after ~10 tries; the outcome stays on the task.
WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)


def reminder_workflow_id(task_id: int) -> str:
    return f"reminder-task-{task_id}"


@workflow.defn
class ReminderWorkflow:
    @workflow.run
    async def run(self, inp: ReminderInput) -> str:
        await sleep_until(inp.remind_at, f"Remind at {inp.remind_at:%Y-%m-%d %H:%M}")
        plan = await workflow.execute_activity_method(
            ReminderActivities.record_reminder,
            inp.task_id,
            start_to_close_timeout=DB_TIMEOUT,
            summary="Check the task, write the notification",
        )
        if not plan.deliver:
            return plan.reason or "skipped"
        if not plan.webhook:
            return "delivered"
        try:
            status = await workflow.execute_activity_method(
                ReminderActivities.post_webhook,
                args=[inp.task_id, plan.body],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=WEBHOOK_RETRY,
                summary="POST the owner's webhook",
            )
            outcome, detail = "delivered", f"webhook answered {status}"
        except ActivityError as err:
            outcome, detail = "failed", f"webhook gave up: {err.cause or err}"
        await workflow.execute_activity_method(
            ReminderActivities.mark_reminder,
            args=[inp.task_id, outcome, detail],
            start_to_close_timeout=DB_TIMEOUT,
            summary=f"Mark reminder {outcome}",
        )
        return outcome
