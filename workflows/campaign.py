"""A contact enrolled in a campaign walks its steps in order, each `delay_days` after the
previous one; a reply or a status change can end it like a sequence."""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.campaigns import CampaignActivities
    from activities.tasks import TaskActivities
    from nudge.calendar.payloads import CalendarChange, PlaceRequest
    from nudge.calendar.timing import DEFAULT_CALENDAR, Wait
    from nudge.campaigns.payloads import EnrollmentInput, EnrollmentProgress
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

    @workflow.run
    async def run(self, inp: EnrollmentInput) -> EnrollmentProgress:
        due = workflow.info().workflow_start_time
        for step in sorted(inp.steps, key=lambda s: s.order):
            due = due + timedelta(days=step.delay_days)
            if self._inp.placement != "anytime":  # the next step counts from this placed one
                due = (
                    await place_due(
                        PlaceRequest(
                            owner_id=inp.owner_id,
                            contact_id=inp.contact_id,
                            anchor=due,
                            wait=Wait(hours=0),
                            placement=self._inp.placement,
                            calendar=self._inp.calendar or DEFAULT_CALENDAR,
                        ),
                        f"Step {step.order}: place its due time",
                    )
                ).due_at
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
