"""A contact's recurring check-ins: one task per cadence period, forever, with a small
history (continue-as-new every 100 cycles, or sooner when the server suggests it)."""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.tasks import TaskActivities
    from nudge.calendar.payloads import CalendarChange, PlaceRequest
    from nudge.calendar.timing import Wait
    from nudge.core.contact_events import ContactEvent, ends_cadence
    from nudge.core.errors import PERMANENT, failure_kind, failure_message
    from nudge.core.signals import BadSignal, UnreadSignals, one_object, optional_reason
    from nudge.recurring.cadence import CADENCE_DAYS, occurrence
    from nudge.recurring.payloads import (
        CadenceChange,
        CadenceTask,
        RecurringInput,
        RecurringProgress,
    )
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT
    from workflows.timing import place_due

CYCLES_PER_RUN = 100


@workflow.defn
class RecurringWorkflow:
    @workflow.init
    def __init__(self, inp: RecurringInput) -> None:
        self._inp = inp.model_copy()
        if self._inp.anchor is None:
            self._inp.anchor = workflow.info().workflow_start_time
        self._cycles = 0
        self._changes = 0
        self._stop_reason: str | None = None
        self._unread = UnreadSignals()
        self._placed_due: datetime | None = None
        self._calendar_revision = 0.0  # the newest adopt_calendar's (a run's own)
        self._placed_reason: str | None = None

    @workflow.run
    async def run(self, inp: RecurringInput) -> RecurringProgress:
        while self._stop_reason is None:
            seen = self._changes
            due = cadence_date = self._next_due()
            if self._inp.placement != "anytime":
                due = await self._placed(cadence_date)
            wait = (due - workflow.now()).total_seconds()
            if wait > 0:

                def reshaped(seen: int = seen) -> bool:
                    return self._changes != seen

                try:
                    await workflow.wait_condition(
                        reshaped,
                        timeout=wait,
                        timeout_summary=f"{self._inp.cadence} check-in due {due:%Y-%m-%d}",
                    )
                    continue  # cadence changed or stopped: recompute
                except TimeoutError:
                    pass
            if not await self._make_task(due, cadence_date):
                break
            if self._changes == seen:  # a reshape during the write restarted the count
                self._inp.done += 1
            self._cycles += 1
            if self._stop_reason is not None:
                break  # stopped during the write: don't carry on into a new run
            if self._cycles >= CYCLES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._inp)
        return self.progress()

    def _next_due(self) -> datetime:
        assert self._inp.anchor is not None
        return occurrence(self._inp.anchor, self._inp.cadence, self._inp.done + 1)

    async def _placed(self, due: datetime) -> datetime:
        """The cadence's date, placed by the calendar (the next one still counts from the
        anchor, so one check-in moved to Monday doesn't drag the rest). Day cadences count
        days on the placement zone's wall clock (09:00 stays 09:00 across DST); monthly ones
        keep the anchor's UTC time of day, then are placed."""
        assert self._inp.anchor is not None
        anchor, wait = due, Wait(hours=0)
        if self._inp.cadence in CADENCE_DAYS:
            days = CADENCE_DAYS[self._inp.cadence] * (self._inp.done + 1)
            anchor, wait = self._inp.anchor, Wait(days=days)
        placed = await place_due(
            PlaceRequest(
                owner_id=self._inp.owner_id,
                contact_id=self._inp.contact_id,
                anchor=anchor,
                wait=wait,
                placement=self._inp.placement,
                calendar=self._inp.calendar,
            ),
            f"Place the {self._inp.cadence} check-in due {due:%Y-%m-%d}",
        )
        self._placed_due, self._placed_reason = placed.due_at, placed.reason
        return placed.due_at

    async def _make_task(self, due: datetime, cadence_date: datetime) -> bool:
        try:
            await workflow.execute_activity_method(
                TaskActivities.create_cadence_task,
                CadenceTask(
                    owner_id=self._inp.owner_id,
                    contact_id=self._inp.contact_id,
                    workflow_id=workflow.info().workflow_id,
                    cadence=self._inp.cadence,
                    template=self._inp.template,
                    due_at=due,
                    occurrence=cadence_date.date() if due != cadence_date else None,
                ),
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Create {self._inp.cadence} task due {due:%Y-%m-%d}",
            )
        except ActivityError as err:
            if failure_kind(err) in PERMANENT:  # the contact is gone, the template can't render
                self._stop_reason = failure_message(err)
                return False
            raise
        return True

    # Each signal takes its payload raw and reads it itself (nudge.core.signals): one sent by
    # hand with the wrong shape is kept in progress() as unread, and changes nothing.

    @workflow.signal
    def change_cadence(self, *payload: object) -> None:
        """Reshape: the new cadence counts from now (a no-op if nothing changes)."""
        try:
            change = one_object(payload, CadenceChange)
        except BadSignal as err:
            self._unread.add("change_cadence", err)
            return
        template = change.template or self._inp.template
        placement = change.placement or self._inp.placement
        # A reshape never swaps the calendar a running cadence has (adopt_calendar does).
        calendar = self._inp.calendar or change.calendar
        if (change.cadence, template) == (self._inp.cadence, self._inp.template):
            if (placement, calendar) != (self._inp.placement, self._inp.calendar):
                # Where check-ins land changed, not their rhythm: the count goes on.
                self._inp = self._inp.model_copy(
                    update={"placement": placement, "calendar": calendar}
                )
                self._changes += 1
            return
        self._inp = self._inp.model_copy(
            update={
                "cadence": change.cadence,
                "template": template,
                "anchor": workflow.now(),
                "done": 0,
                "placement": placement,
                "calendar": calendar,
            }
        )
        self._changes += 1

    @workflow.signal
    def adopt_calendar(self, *payload: object) -> None:
        """The owner's calendar changed and said so for running cadences."""
        try:
            change = one_object(payload, CalendarChange)
        except BadSignal as err:
            self._unread.add("adopt_calendar", err)
            return
        if change.revision > self._calendar_revision:  # newer than the one it has
            self._calendar_revision = change.revision
            self._inp = self._inp.model_copy(update={"calendar": change.calendar})
            self._changes += 1

    @workflow.signal
    def stop(self, *payload: object) -> None:
        try:
            reason = optional_reason(payload)
        except BadSignal as err:
            self._unread.add("stop", err)
            return
        self._stop(reason or "stopped")

    @workflow.signal
    def contact_event(self, *payload: object) -> None:
        try:
            event = one_object(payload, ContactEvent)
        except BadSignal as err:
            self._unread.add("contact_event", err)
            return
        reason = ends_cadence(event)
        if reason:
            self._stop(reason)

    def _placed_next(self) -> bool:
        """The next check-in has been placed (its placed time is not an earlier one's)."""
        placed = self._placed_due
        return (
            self._inp.placement != "anytime" and placed is not None and placed >= self._next_due()
        )

    def _next_shown(self) -> datetime:
        """The next check-in: placed once the workflow has placed it, else its cadence date."""
        if self._placed_next():
            assert self._placed_due is not None
            return self._placed_due
        return self._next_due()

    def _shown_reason(self) -> str | None:
        return self._placed_reason if self._placed_next() else None

    def _stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self._changes += 1

    @workflow.query
    def progress(self) -> RecurringProgress:
        return RecurringProgress(
            workflow_id=workflow.info().workflow_id,
            cadence=self._inp.cadence,
            state="running" if self._stop_reason is None else "stopped",
            next_due_at=self._next_shown() if self._stop_reason is None else None,
            cycles_this_run=self._cycles,
            stop_reason=self._stop_reason,
            placement=self._inp.placement,
            placement_reason=self._shown_reason(),
            placed=self._inp.placement == "anytime" or self._placed_next(),
            unread_signals=self._unread.kept,
        )
