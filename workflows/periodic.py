"""The periodic jobs the Temporal Schedules start: each pages through its rows with one
bounded activity call per page and returns what it did."""

from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.periodic import PeriodicActivities
    from nudge.core.vocabulary import PeriodicJob
    from nudge.periodic.payloads import SweepCarry, SweepPage, SweepResult
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
# Runs recorded before a long sweep continued as new replay without it.
CONTINUE_PATCH: Final = "continue-as-new-pages"


@workflow.defn
class PeriodicJobWorkflow:
    @workflow.run
    async def run(
        self, job: PeriodicJob, page_size: int = 500, carry: SweepCarry | None = None
    ) -> SweepResult:
        carry = carry or SweepCarry()
        total, pages = carry.total, 0
        steps = STEPS.get(job, (job,))
        for index in range(carry.step, len(steps)):
            step = steps[index]
            if step in ADDED_STEPS and not workflow.patched(f"step-{step}"):
                continue
            after = carry.after_id if index == carry.step else 0
            while True:
                page = await workflow.execute_activity_method(
                    getattr(PeriodicActivities, step),
                    SweepPage(after_id=after, now=workflow.now(), limit=page_size),
                    start_to_close_timeout=PAGE_TIMEOUT,
                    summary=f"{step} after row {after}",
                )
                total, pages = total.plus(page), pages + 1
                if page.done:
                    break
                after = page.last_id
                if self._history_full(pages, carry.pages_per_run):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(
                        args=[
                            job,
                            page_size,
                            carry.model_copy(update={"step": index, "after_id": after,
                                                     "total": total}),
                        ]
                    )  # fmt: skip
        return total

    @staticmethod
    def _history_full(pages: int, pages_per_run: int) -> bool:
        """Enough pages in this run: the rest go to a fresh one (a 100k-row backlog would
        otherwise grow one history by thousands of events)."""
        full = pages >= pages_per_run or workflow.info().is_continue_as_new_suggested()
        return full and workflow.patched(CONTINUE_PATCH)
