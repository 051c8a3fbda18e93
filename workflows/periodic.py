"""The periodic jobs the Temporal Schedules start: each pages through its rows with one
bounded activity call per page and returns what it did."""

from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.periodic import PeriodicActivities
    from nudge.core.vocabulary import PeriodicJob
    from nudge.periodic.payloads import SweepPage, SweepResult
    from workflows.policies import PAGE_TIMEOUT

# A job is one or more page-through activities, run in turn.
STEPS: Final[dict[str, tuple[str, ...]]] = {
    "process_automation": (
        "finish_events",
        "restart_enrollments",
        "close_ended_batches",
        "kick_pending_deliveries",
        "process_inbound",
    )
}
# Steps added after the job first ran: a run that began without one replays without it.
ADDED_STEPS: Final = frozenset(
    {"close_ended_batches", "kick_pending_deliveries", "process_inbound"}
)


@workflow.defn
class PeriodicJobWorkflow:
    @workflow.run
    async def run(self, job: PeriodicJob, page_size: int = 500) -> SweepResult:
        total = SweepResult()
        for step in STEPS.get(job, (job,)):
            if step in ADDED_STEPS and not workflow.patched(f"step-{step}"):
                continue
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
