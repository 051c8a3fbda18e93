"""A follow-up sequence: one task per preset step, each on its own durable timer."""

import asyncio
from datetime import datetime, timedelta
from typing import Final

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from nudge.core.contact_events import ContactEvent, ends_sequence
    from nudge.core.ids import sequence_step_key
    from nudge.core.signals import BadSignal, one_object
    from nudge.sequences.payloads import PlannedStep, SequenceInput, SequenceProgress
    from nudge.sequences.presets import SEQUENCE_PRESETS, sequence_due_times
    from nudge.tasks.payloads import NewTask
    from workflows.pausable import TERMINAL, PausableRun
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT

# Runs that began before this marker let a cancellation during a write end them unrecorded.
RECORD_CANCEL_DURING_WRITE: Final = "record-cancel-during-write"


@workflow.defn
class SequenceWorkflow(PausableRun):
    @workflow.init
    def __init__(self, inp: SequenceInput) -> None:
        self._inp = inp
        anchor = inp.anchor or workflow.info().workflow_start_time
        self._base_due = sequence_due_times(inp.sequence_type, anchor, inp.start_delay_hours)
        self._created_due: list[datetime] = []  # actual due time of each task made so far
        self._shift = timedelta(0)  # total time spent paused; pushes every later step
        self._start_run(inp.batch_id)

    @workflow.run
    async def run(self, inp: SequenceInput) -> SequenceProgress:
        await self._walk_and_finish()
        return self.progress()

    def _cancelled(self, err: BaseException) -> bool:
        """Runs that began before RECORD_CANCEL_DURING_WRITE end unrecorded when cancelled
        in the middle of a write."""
        if isinstance(err, asyncio.CancelledError):
            return True
        return is_cancelled_exception(err) and workflow.patched(RECORD_CANCEL_DURING_WRITE)

    async def _walk_steps(self) -> None:
        inp = self._inp
        contact = await self._begin(TaskActivities.begin_sequence, inp)
        if contact is None:
            return
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

    def _resumed(self, paused: timedelta) -> None:
        self._shift += paused

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
