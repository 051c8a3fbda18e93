"""One subscription's task events for one task, delivered in the order they were written: a
`completed` never overtakes its `created`. Each delivery is retried with exponential backoff
for up to the horizon (three days), then dead-lettered with the ones behind it, until
replayed. One workflow per (subscription, task): a slow or dead receiver of one task's events
holds up nothing else."""

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import DeliveryActivities
    from nudge.core.errors import WEBHOOK_REFUSED
    from nudge.integrations.payloads import DeliveryInput
    from workflows.policies import WEBHOOK_TIMEOUT, WRITE_RETRY, WRITE_TIMEOUT

# Without news for this long it ends; the next event starts it again (signal-with-start).
IDLE: Final = timedelta(minutes=10)
MAX_RETRY_INTERVAL: Final = timedelta(hours=1)


@workflow.defn
class DeliveryWorkflow:
    @workflow.init
    def __init__(self, inp: DeliveryInput) -> None:
        self._kicks = 0

    @workflow.run
    async def run(self, inp: DeliveryInput) -> int:
        sent = 0
        while True:
            # Read before looking: a kick that lands while we look is not lost.
            seen = self._kicks
            delivery_id = await workflow.execute_activity_method(
                DeliveryActivities.next_delivery,
                args=[inp.subscription_id, inp.task_id],
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Next event of task {inp.task_id}",
            )
            if delivery_id is None:
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: self._kicks != seen,  # type: ignore[misc]
                        timeout=IDLE,
                        timeout_summary="Waiting for this task's next event",
                    )
                except TimeoutError:
                    return sent  # a kick after this starts a new run (signal-with-start)
                continue
            try:
                await workflow.execute_activity_method(
                    DeliveryActivities.deliver,
                    delivery_id,
                    start_to_close_timeout=WEBHOOK_TIMEOUT,
                    schedule_to_close_timeout=timedelta(seconds=inp.horizon_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=inp.first_retry_seconds),
                        backoff_coefficient=2.0,
                        maximum_interval=MAX_RETRY_INTERVAL,
                        non_retryable_error_types=[WEBHOOK_REFUSED],  # the SSRF guard said no
                    ),
                    summary=f"POST event delivery {delivery_id}",
                )
                sent += 1
            except ActivityError:
                await workflow.execute_activity_method(
                    DeliveryActivities.dead_letter,
                    delivery_id,
                    start_to_close_timeout=WRITE_TIMEOUT,
                    retry_policy=WRITE_RETRY,
                    summary=f"Dead-letter delivery {delivery_id} and the ones behind it",
                )
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp)

    @workflow.signal
    def kick(self) -> None:
        """More events were written for this task (or some were replayed)."""
        self._kicks += 1
