"""What the two sequence workflows (the presets, and custom definitions) share: their state
(running, paused, ended with a reason), the pause / resume / cancel signals, a wait that any
of them can cut short, and writing the batch's end.

A base class, not a workflow: each subclass has its own @workflow.run, and Temporal finds
these signal handlers through it. Moving them here changed no command either workflow
issues, which the recorded histories replay to prove."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from nudge.core.errors import CONTACT_GONE, failure_kind
    from nudge.core.signals import BadSignal, UnreadSignals, no_input, optional_reason
    from nudge.core.vocabulary import BatchEnd, SequenceState
    from nudge.tasks.payloads import BatchOutcome, ContactCard
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT

# The states a sequence ends in, as its batch records them.
TERMINAL: Final[dict[SequenceState, BatchEnd]] = {
    "completed": "completed",
    "cancelled": "cancelled",
    "stopped": "stopped",
}
MAX_REASON: Final = 500  # the batch's stop_reason column


class PausableRun:
    _batch_id: int
    _state: SequenceState
    _stop_reason: str | None
    _paused_at: datetime | None
    _changes: int  # bumped by every signal that may end a wait early
    _unread: UnreadSignals

    def _start_run(self, batch_id: int) -> None:
        self._batch_id = batch_id
        self._state = "running"
        self._stop_reason = None
        self._paused_at = None
        self._changes = 0
        self._unread = UnreadSignals()

    def _resumed(self, paused: timedelta) -> None:
        """Move what waits later by the time spent paused."""
        raise NotImplementedError

    async def _walk_steps(self) -> None:
        """Make the steps' tasks, each at its time, until done or ended."""
        raise NotImplementedError

    def _cancelled(self, err: BaseException) -> bool:
        """A cancellation of this run: at a timer or wait, or in the middle of a write."""
        return isinstance(err, asyncio.CancelledError) or is_cancelled_exception(err)

    async def _begin(
        self, begin: Callable[[Any, Any], ContactCard], inp: object
    ) -> ContactCard | None:
        """The run's first activity: its contact (returned), its batch row; None when the
        contact is gone, which ends the run as stopped."""
        try:
            return await workflow.execute_activity_method(
                begin,
                inp,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary="Load contact, check batch",
            )
        except ActivityError as err:
            if failure_kind(err) == CONTACT_GONE:
                self._end("stopped", "contact deleted")
                return None
            raise

    async def _walk_and_finish(self) -> None:
        """The run: walk the steps and write the batch's end. Cancelled in Temporal (the API
        cancels this way, with the reason), it records that, then re-raises, so Temporal too
        shows the run as Canceled."""
        try:
            await self._walk_steps()
            await self._finish_batch()
        except (asyncio.CancelledError, ActivityError) as err:
            if not self._cancelled(err):
                raise
            self._end("cancelled", workflow.cancellation_reason() or "workflow cancelled")
            await self._finish_batch()
            raise

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
            BatchOutcome(batch_id=self._batch_id, status=status, reason=self._stop_reason),
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
            self._resumed(workflow.now() - self._paused_at)
            self._paused_at = None
            self._state = "running"
            self._changes += 1

    @workflow.signal
    def cancel(self, *payload: object) -> None:
        """Ends the run as Completed with state cancelled; the API cancels the run in
        Temporal instead (see each run), which Temporal shows as Canceled."""
        try:
            reason = optional_reason(payload)
        except BadSignal as err:
            self._unread.add("cancel", err)
            return
        self._end("cancelled", reason or "cancelled")
