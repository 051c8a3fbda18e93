"""A bulk enrollment: pages of contacts started in order, a day's worth at a time when the
owner has a daily limit, continuing as new so its history stays small at 10,000 contacts."""

from datetime import datetime, time, timedelta
from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from nudge.core.vocabulary import EnrollJobStatus
    from nudge.sequences.payloads import EnrollJobInput, EnrollPage, JobStatus, PageResult
    from workflows.policies import PAGE_TIMEOUT, WRITE_RETRY, WRITE_TIMEOUT
    from workflows.timing import sleep_until

PAGES_PER_RUN: Final = 25  # then continue as new


def _next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)


@workflow.defn
class EnrollJobWorkflow:
    @workflow.run
    async def run(self, inp: EnrollJobInput) -> None:
        if not inp.prepared:
            # By name: activities.enroll starts sequences, which imports this module.
            await workflow.execute_activity(
                "prepare_enroll_job",
                inp.job_id,
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary="Resolve the contacts",
            )
        for _ in range(PAGES_PER_RUN):
            now = workflow.now()
            page = await workflow.execute_activity(
                "enroll_page",
                EnrollPage(job_id=inp.job_id, day=now.date()),
                result_type=PageResult,
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary="Enroll the next page",
            )
            if page.pending == 0:
                await self._status(inp.job_id, "completed", None)
                return
            if page.limited or page.started == 0:
                tomorrow = _next_midnight(now)
                await self._status(
                    inp.job_id,
                    "waiting",
                    f"the daily enrollment limit is reached for {now.date().isoformat()}: "
                    f"{page.pending} contacts wait, in order, for the next days (next page "
                    f"at {tomorrow.isoformat(timespec='minutes')})",
                )
                await sleep_until(tomorrow, "Daily enrollment limit: wait for tomorrow")
                await self._status(inp.job_id, "running", None)
        workflow.continue_as_new(inp.model_copy(update={"prepared": True}))

    async def _status(self, job_id: int, status: EnrollJobStatus, detail: str | None) -> None:
        await workflow.execute_activity(
            "set_enroll_status",
            JobStatus(job_id=job_id, status=status, detail=detail),
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary=f"Job {status}",
        )
