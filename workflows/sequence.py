"""A follow-up sequence: one task per preset step, each on its own durable timer."""

import asyncio
from datetime import datetime, timedelta
from typing import Final

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from nudge.core.contact_events import ContactEvent, ends_sequence
    from nudge.core.errors import CONTACT_GONE, failure_kind
    from nudge.core.ids import sequence_step_key
    from nudge.core.signals import (
        BadSignal,
        UnreadSignals,
        no_input,
        one_object,
        optional_reason,
    )
    from nudge.core.vocabulary import BatchEnd, SequenceState
    from nudge.sequences.payloads import PlannedStep, SequenceInput, SequenceProgress
    from nudge.sequences.presets import SEQUENCE_PRESETS, sequence_due_times
    from nudge.tasks.payloads import BatchOutcome, NewTask
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT

# The states a sequence ends in, as its batch records them.
TERMINAL: Final[dict[SequenceState, BatchEnd]] = {
    "completed": "completed",
    "cancelled": "cancelled",
    "stopped": "stopped",
}
MAX_REASON: Final = 500  # the batch's stop_reason column
# Runs that began before this marker let a cancellation during a write end them unrecorded.
RECORD_CANCEL_DURING_WRITE: Final = "record-cancel-during-write"


@workflow.defn
class SequenceWorkflow:
    @workflow.init
    def __init__(self, inp: SequenceInput) -> None:
        self._inp = inp
        anchor = workflow.info().workflow_start_time
        self._base_due = sequence_due_times(inp.sequence_type, anchor, inp.start_delay_hours)
        self._created_due: list[datetime] = []  # actual due time of each task made so far
        self._state: SequenceState = "running"
        self._stop_reason: str | None = None
        self._paused_at: datetime | None = None
        self._shift = timedelta(0)  # total time spent paused; pushes every later step
        self._changes = 0  # bumped by every signal that may end a wait early
        self._unread = UnreadSignals()

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceProgress:
        try:
            await self._walk_steps()
            await self._finish_batch()
        except (asyncio.CancelledError, ActivityError) as err:
            if not self._cancelled(err):
                raise
            # Cancelled in Temporal (the API cancels this way, with the reason): record it,
            # then re-raise, so Temporal too shows the run as Canceled.
            self._end("cancelled", workflow.cancellation_reason() or "workflow cancelled")
            await self._finish_batch()
            raise
        return self.progress()

    @staticmethod
    def _cancelled(err: BaseException) -> bool:
        """A cancellation of this run: at a timer or wait, or in the middle of a write."""
        if isinstance(err, asyncio.CancelledError):
            return True
        return is_cancelled_exception(err) and workflow.patched(RECORD_CANCEL_DURING_WRITE)

    async def _walk_steps(self) -> None:
        inp = self._inp
        try:
            contact = await workflow.execute_activity_method(
                TaskActivities.begin_sequence,
                inp,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary="Load contact, check batch",
            )
        except ActivityError as err:
            if failure_kind(err) == CONTACT_GONE:
                self._end("stopped", "contact deleted")
                return
            raise
        total = len(self._base_due)
        offsets = SEQUENCE_PRESETS[inp.sequence_type]
        while self._state not in TERMINAL and len(self._created_due) < total:
            if self._state == "paused":
                await workflow.wait_condition(lambda: self._state != "paused")
                continue
            step = len(self._created_due) + 1
            due = self._base_due[step - 1] + self._shift
            if not await self._sleep_until(due, f"Step {step}/{total} due"):
                continue  # paused, resumed or stopped meanwhile: look again
            if self._state != "running":
                continue  # a signal landed in the same activation as the timer
            await workflow.execute_activity_method(
                TaskActivities.create_task,
                NewTask(
                    idempotency_key=sequence_step_key(inp.batch_id, step),
                    owner_id=inp.owner_id,
                    contact_id=inp.contact_id,
                    batch_id=inp.batch_id,
                    workflow_id=workflow.info().workflow_id,
                    source=f"sequence:{inp.sequence_type}",
                    title=f"Follow up with {contact.name} ({step}/{total})",
                    description=(
                        f"Day {offsets[step - 1]} of the {inp.sequence_type} follow-up "
                        f"sequence for {contact.name}"
                        + (f" <{contact.email}>." if contact.email else ".")
                    ),
                    priority="medium",
                    due_at=due,
                ),
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Create task for step {step}/{total}",
            )
            self._created_due.append(due)
        if len(self._created_due) == total:
            # Even if a pause arrived during the last write: nothing is left to pause.
            self._end("completed", None)

    async def _sleep_until(self, due: datetime, summary: str) -> bool:
        """True when ``due`` arrived; False when a signal changed things first."""
        remaining = (due - workflow.now()).total_seconds()
        if remaining <= 0:
            return True
        seen = self._changes
        try:
            await workflow.wait_condition(
                lambda: self._changes != seen,
                timeout=remaining,
                timeout_summary=f"{summary} {due.isoformat(timespec='minutes')}",
            )
        except TimeoutError:
            return True
        return False

    async def _finish_batch(self) -> None:
        status = TERMINAL.get(self._state, "stopped")
        await workflow.execute_activity_method(
            TaskActivities.finish_batch,
            BatchOutcome(batch_id=self._inp.batch_id, status=status, reason=self._stop_reason),
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
            summary=f"Mark batch {status}",
        )

    def _end(self, state: SequenceState, reason: str | None) -> None:
        if self._state in TERMINAL:
            return  # the first ending wins; signals may repeat
        self._state = state
        self._stop_reason = reason[:MAX_REASON] if reason else reason
        self._paused_at = None
        self._changes += 1

    # Each signal takes its payload raw and reads it itself (nudge.core.signals): one sent by
    # hand with the wrong shape is kept in progress() as unread, and changes nothing.

    @workflow.signal
    def pause(self, *payload: object) -> None:
        try:
            no_input(payload)
        except BadSignal as err:
            self._unread.add("pause", err)
            return
        if self._state == "running":
            self._state = "paused"
            self._paused_at = workflow.now()
            self._changes += 1

    @workflow.signal
    def resume(self, *payload: object) -> None:
        try:
            no_input(payload)
        except BadSignal as err:
            self._unread.add("resume", err)
            return
        if self._state == "paused" and self._paused_at is not None:
            self._shift += workflow.now() - self._paused_at
            self._paused_at = None
            self._state = "running"
            self._changes += 1

    @workflow.signal
    def cancel(self, *payload: object) -> None:
        """Ends the run as Completed with state cancelled; the API cancels the run in
        Temporal instead (see run), which Temporal shows as Canceled."""
        try:
            reason = optional_reason(payload)
        except BadSignal as err:
            self._unread.add("cancel", err)
            return
        self._end("cancelled", reason or "cancelled")

    @workflow.signal
    def contact_event(self, *payload: object) -> None:
        try:
            event = one_object(payload, ContactEvent)
        except BadSignal as err:
            self._unread.add("contact_event", err)
            return
        reason = ends_sequence(event)
        if reason:
            self._end("stopped", reason)

    @workflow.query
    def progress(self) -> SequenceProgress:
        made = len(self._created_due)
        later = [due + self._shift for due in self._base_due[made:]]
        planned = [
            PlannedStep(step=i + 1, due_at=due) for i, due in enumerate(self._created_due + later)
        ]
        waiting = self._state == "running" and made < len(self._base_due)
        return SequenceProgress(
            workflow_id=workflow.info().workflow_id,
            batch_id=self._inp.batch_id,
            sequence_type=self._inp.sequence_type,
            state=self._state,
            step=made,
            next_due_at=later[0] if waiting else None,
            tasks_created=made,
            stop_reason=self._stop_reason,
            planned=planned,
            unread_signals=self._unread.kept,
        )
