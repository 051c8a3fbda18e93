"""The periodic jobs the Temporal Schedules start: each pages through its rows with one
bounded activity call per page and returns what it did."""

from datetime import timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.periodic import PeriodicActivities
    from nudge.contracts import SweepPage, SweepResult

Job = Literal["escalate_overdue", "remind_due", "reconcile_recurring", "finish_events"]
PAGE_TIMEOUT = timedelta(minutes=2)


@workflow.defn
class PeriodicJobWorkflow:
    @workflow.run
    async def run(self, job: Job, page_size: int = 500) -> SweepResult:
        activity = getattr(PeriodicActivities, job)
        total, after = SweepResult(), 0
        while True:
            page = await workflow.execute_activity_method(
                activity,
                SweepPage(after_id=after, now=workflow.now(), limit=page_size),
                start_to_close_timeout=PAGE_TIMEOUT,
                summary=f"{job} after row {after}",
            )
            total = total.plus(page)
            if page.done:
                return total
            after = page.last_id
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(args=[job, page_size])
