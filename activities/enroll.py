"""Activities of bulk enrollment: resolve a job's contacts, start a page of enrollments."""

import asyncio
from typing import Final

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client

from nudge.core.errors import ContactNotFound, NudgeError, TemporalUnavailable
from nudge.core.models import EnrollJob
from nudge.core.vocabulary import EnrollOutcome
from nudge.sequences import enroll
from nudge.sequences.batches import job_batch
from nudge.sequences.enroll import Settled
from nudge.sequences.payloads import EnrollPage, JobStatus, PageResult
from nudge.sequences.start import schedule_sequence

IN_FLIGHT: Final = 20  # starts at once within a page


class EnrollActivities:
    def __init__(self, client: Client, sessions: sessionmaker[Session], task_queue: str) -> None:
        self.client, self.sessions, self.task_queue = client, sessions, task_queue

    @activity.defn
    async def prepare_enroll_job(self, job_id: int) -> int:
        """Write the job's contacts (once); how many there are."""
        return await to_thread.run_sync(enroll.prepare, self.sessions, job_id)

    @activity.defn
    async def enroll_page(self, page: EnrollPage) -> PageResult:
        """Start the next page of enrollments, then settle the page's rows in one transaction
        (a retry after a crash between the two finds its starts by their batches)."""
        job = await to_thread.run_sync(self._job, page.job_id)
        if job is None:  # deleted with its definition: nothing left to do
            return PageResult(started=0, pending=0, limited=False)
        contacts = await to_thread.run_sync(enroll.reserve, self.sessions, page.job_id, page.day)
        gate = asyncio.Semaphore(IN_FLIGHT)
        settled = await asyncio.gather(*(self._one(job, c, gate) for c in contacts))
        await to_thread.run_sync(enroll.settle, self.sessions, job.id, settled, page.day)
        left = await to_thread.run_sync(enroll.pending, self.sessions, page.job_id)
        # Only a limit really used up waits for tomorrow (contacts already enrolled, skipped
        # or failed don't count against it).
        limited = left > 0 and await to_thread.run_sync(
            enroll.limit_reached, self.sessions, page.job_id, page.day
        )
        return PageResult(started=len(contacts), pending=left, limited=limited)

    def _earlier(self, owner_id: int, contact_id: int, job_id: int) -> int | None:
        with self.sessions() as session:
            return job_batch(session, owner_id, contact_id, job_id)

    def _job(self, job_id: int) -> EnrollJob | None:
        with self.sessions() as session:
            job = session.get(EnrollJob, job_id)
            if job is not None:
                session.expunge(job)
            return job

    async def _one(self, job: EnrollJob, contact_id: int, gate: asyncio.Semaphore) -> Settled:
        outcome: EnrollOutcome
        reason: str | None
        batch: int | None
        async with gate:
            # A retried page meets its own earlier start: found by its batch (the run may
            # have ended since, and must not be started again) or by the running run's memo.
            earlier = await to_thread.run_sync(self._earlier, job.owner_id, contact_id, job.id)
            try:
                if earlier is not None:
                    outcome, reason, batch = "enrolled", None, earlier
                else:
                    result = await schedule_sequence(
                        self.client,
                        self.sessions,
                        task_queue=self.task_queue,
                        owner_id=job.owner_id,
                        contact_id=contact_id,
                        definition_id=job.definition_id,
                        start_delay_hours=job.request.get("start_delay_hours", 0),
                        job_id=job.id,
                        plan=False,
                    )
                    mine = result.started or result.job_id == job.id
                    outcome = "enrolled" if mine else "already_enrolled"
                    reason = None if mine else f"already running as {result.workflow_id}"
                    batch = result.batch_id
            except TemporalUnavailable:
                raise  # the activity is retried; rows settled so far stay settled
            except ContactNotFound:
                outcome, reason, batch = "skipped", "contact no longer exists", None
            except NudgeError as err:
                outcome, reason, batch = "failed", str(err), None
        return Settled(contact_id, outcome, reason, batch)

    @activity.defn
    async def set_enroll_status(self, update: JobStatus) -> None:
        await to_thread.run_sync(
            enroll.set_status, self.sessions, update.job_id, update.status, update.detail
        )
