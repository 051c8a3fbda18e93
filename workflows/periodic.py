"""The periodic jobs the Temporal Schedules start: each pages through its rows with one
bounded activity call per page and returns what it did."""

from datetime import timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.periodic import PeriodicActivities
    from nudge.contracts import SweepPage, SweepResult

Job = Literal["escalate_overdue", "remind_due", "reconcile_recurring", "process_automation"]
PAGE_TIMEOUT = timedelta(minutes=2)
# A job is one or more page-through activities, run in turn.
STEPS: dict[str, tuple[str, ...]] = {"process_automation": ("finish_events", "restart_enrollments")}


@workflow.defn
class PeriodicJobWorkflow:
    @workflow.run
    async def run(self, job: Job, page_size: int = 500) -> SweepResult:
        total = SweepResult()
        for step in STEPS.get(job, (job,)):
            total = total.plus(await self._page_through(step, page_size))
        return total

    async def _page_through(self, step: str, page_size: int) -> SweepResult:
        activity = getattr(PeriodicActivities, step)
        total, after = SweepResult(), 0
        while True:
            page = await workflow.execute_activity_method(
                activity,
                SweepPage(after_id=after, now=workflow.now(), limit=page_size),
                start_to_close_timeout=PAGE_TIMEOUT,
                summary=f"{step} after row {after}",
            )
            total = total.plus(page)
            if page.done:
                return total
            after = page.last_id
