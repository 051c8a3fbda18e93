"""A contact enrolled in a campaign walks its steps in order, each `delay_days` after the
previous one; a reply or a status change can end it like a sequence."""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.campaigns import CampaignActivities
    from activities.tasks import TaskActivities
    from nudge.calendar.payloads import CalendarChange, PlaceRequest
    from nudge.calendar.timing import Wait
    from nudge.campaigns.payloads import EnrollmentInput, EnrollmentProgress, StepSpec
    from nudge.core.contact_events import ContactEvent, ends_sequence
    from nudge.core.signals import BadSignal, UnreadSignals, one_object, optional_reason
    from nudge.core.vocabulary import BatchEnd
    from nudge.tasks.payloads import BatchOutcome
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT
    from workflows.timing import place_due


@workflow.defn
class CampaignEnrollmentWorkflow:
    @workflow.init
    def __init__(self, inp: EnrollmentInput) -> None:
        self._inp = inp
        self._done = 0
        self._next: datetime | None = None
        self._stop: tuple[BatchEnd, str] | None = None  # (state, reason)
        self._unread = UnreadSignals()
        self._calendar_revision = 0.0  # the newest adopt_calendar's

    @workflow.run
    async def run(self, inp: EnrollmentInput) -> EnrollmentProgress:
        due = workflow.info().workflow_start_time
        for step in sorted(inp.steps, key=lambda s: s.order):
            if self._inp.placement != "anytime":
                due = await self._placed_wait(due, step)
            else:
                due = due + timedelta(days=step.delay_days)
                self._next = due
                wait = (due - workflow.now()).total_seconds()
                if wait > 0:
                    try:
                        await workflow.wait_condition(
                            lambda: self._stop is not None,
                            timeout=wait,
                            timeout_summary=f"Step {step.order} ({step.message_type}) due",
                        )
                    except TimeoutError:
                        pass
            if self._stop is not None:
                break
            await workflow.execute_activity_method(
                CampaignActivities.run_step,
                args=[inp.enrollment_id, step, due],
                summary=f"Step {step.order}: {step.message_type} {step.name!r}",
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
            )
            self._done += 1
        self._next = None
        state, reason = self._stop or ("completed", None)
        await workflow.execute_activity_method(
            TaskActivities.finish_batch,
            BatchOutcome(batch_id=inp.batch_id, status=state, reason=reason),
            summary=f"Mark enrollment {state}",
            start_to_close_timeout=WRITE_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        return self.progress()

    async def _placed_wait(self, previous: datetime, step: StepSpec) -> datetime:
        """`delay_days` after the previous step's (placed) due time, placed by the calendar
        the enrollment holds, and waited for; a calendar adopted meanwhile places it again."""
        while True:
            seen = self._calendar_revision
            placed = await place_due(
                PlaceRequest(
                    owner_id=self._inp.owner_id,
                    contact_id=self._inp.contact_id,
                    anchor=previous,
                    wait=Wait(days=step.delay_days),
                    placement=self._inp.placement,
                    calendar=self._inp.calendar,
                ),
                f"Step {step.order}: place its due time",
            )
            self._next = due = placed.due_at
            wait = (due - workflow.now()).total_seconds()
            if wait > 0:
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: (
                            self._stop is not None  # type: ignore[misc]
                            or self._calendar_revision != seen
                        ),
                        timeout=wait,
                        timeout_summary=f"Step {step.order} ({step.message_type}) due",
                    )
                except TimeoutError:
                    pass
            if self._stop is not None or self._calendar_revision == seen:
                return due

    # Each signal takes its payload raw and reads it itself (nudge.core.signals): one sent by
    # hand with the wrong shape is kept in progress() as unread, and changes nothing.

    @workflow.signal
    def contact_event(self, *payload: object) -> None:
        try:
            event = one_object(payload, ContactEvent)
        except BadSignal as err:
            self._unread.add("contact_event", err)
            return
        reason = ends_sequence(event)
        if reason and self._stop is None:
            self._stop = ("stopped", reason)

    @workflow.signal
    def adopt_calendar(self, *payload: object) -> None:
        """The owner's calendar changed and said so: steps not yet placed use the new one."""
        try:
            change = one_object(payload, CalendarChange)
        except BadSignal as err:
            self._unread.add("adopt_calendar", err)
            return
        if change.revision > self._calendar_revision:  # newer than the one it has
            self._calendar_revision = change.revision
            self._inp = self._inp.model_copy(update={"calendar": change.calendar})

    @workflow.signal
    def cancel(self, *payload: object) -> None:
        try:
            reason = optional_reason(payload)
        except BadSignal as err:
            self._unread.add("cancel", err)
            return
        if self._stop is None:
            self._stop = ("cancelled", reason or "cancelled")

    @workflow.query
    def progress(self) -> EnrollmentProgress:
        running = self._next is not None or (self._done == 0 and self._stop is None)
        if running and self._stop is None:
            return EnrollmentProgress(
                state="running",
                steps_done=self._done,
                next_due_at=self._next,
                stop_reason=None,
                unread_signals=self._unread.kept,
            )
        state, reason = self._stop or ("completed", None)
        return EnrollmentProgress(
            state=state,
            steps_done=self._done,
            next_due_at=self._next,
            stop_reason=reason,
            unread_signals=self._unread.kept,
        )
