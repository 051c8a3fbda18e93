"""A task's reminder: wake before the task is due, deliver once, unless it's done."""

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.timing import sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.reminders import ReminderActivities
    from nudge.reminders.payloads import ReminderInput
    from workflows.policies import WEBHOOK_RETRY, WEBHOOK_TIMEOUT, WRITE_RETRY, WRITE_TIMEOUT


@workflow.defn
class ReminderWorkflow:
    @workflow.run
    async def run(self, inp: ReminderInput) -> str:
        await sleep_until(inp.remind_at, f"Remind at {inp.remind_at:%Y-%m-%d %H:%M}")
        plan = await workflow.execute_activity_method(
            ReminderActivities.record_reminder,
            inp.task_id,
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary="Check the task, write the notification",
        )
        if not plan.deliver:
            return plan.reason or "skipped"
        if not plan.webhook:
            return "delivered"
        assert plan.body is not None  # record_reminder plans a body with every webhook
        try:
            status = await workflow.execute_activity_method(
                ReminderActivities.post_webhook,
                args=[inp.task_id, plan.body],
                start_to_close_timeout=WEBHOOK_TIMEOUT,
                retry_policy=WEBHOOK_RETRY,
                summary="POST the owner's webhook",
            )
            outcome, detail = "delivered", f"webhook answered {status}"
        except ActivityError as err:
            outcome, detail = "failed", f"webhook gave up: {err.cause or err}"
        await workflow.execute_activity_method(
            ReminderActivities.mark_reminder,
            args=[inp.task_id, outcome, detail],
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary=f"Mark reminder {outcome}",
        )
        return outcome
