"""An enrollment in a custom sequence: the steps of the definition version it was given, each
on its own durable timer counted from its anchor (the start, the previous step's due time, or
the previous task's completion), adopting a new version when a live edit says so.

Some 340 lines: one workflow's state, its signals and its progress query read one another's
fields, and replay checks them as one class."""

from datetime import datetime, timedelta
from typing import Final

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.sequences import DefinedSequenceActivities
    from nudge.calendar.payloads import CalendarChange, PlaceRequest
    from nudge.core.contact_events import ContactEvent
    from nudge.core.errors import CONTACT_GONE, TEMPLATE_PROBLEM, failure_kind
    from nudge.core.signals import (
        BadSignal,
        one_object,
    )
    from nudge.sequences.steps import (
        DefinedProgress,
        DefinedSequenceInput,
        DefinedStepTask,
        DefinitionSnapshot,
        Migration,
        StepOut,
        StepRecord,
        StepSpec,
        adopt,
        exit_reason,
        planned_due,
    )
    from workflows.pausable import MAX_REASON, TERMINAL, PausableRun
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT
    from workflows.timing import place_due

# While a step waits for the previous task's completion, the completion signal is the fast
# path; a slow look at the task covers a signal the API could not send (it died between its
# commit and the signal): after 6 h, then twice as long each time up to a week, so a task
# left open for a year costs some 60 looks, not an unbounded history.
COMPLETION_CHECK: Final = timedelta(hours=6)
COMPLETION_CHECK_MAX: Final = timedelta(days=7)
MAX_MIGRATIONS_KEPT: Final = 20


@workflow.defn
class DefinedSequenceWorkflow(PausableRun):
    @workflow.init
    def __init__(self, inp: DefinedSequenceInput) -> None:
        self._inp = inp
        self._def: DefinitionSnapshot = inp.snapshot
        anchor = inp.anchor or workflow.info().workflow_start_time
        self._start = anchor + timedelta(hours=inp.start_delay_hours)
        self._records = {
            s.id: StepRecord(id=s.id, kind=s.kind, version=inp.snapshot.version)
            for s in inp.snapshot.steps
        }
        self._completed: dict[int, datetime] = {}  # task id → when the signal said so
        self._migrations: list[Migration] = []
        self._paused_hours = 0.0  # every pause so far: moves steps anchored on the start
        self._calendar_revision = 0.0  # the newest adopt_calendar's
        self._start_run(inp.batch_id)

    @workflow.run
    async def run(self, inp: DefinedSequenceInput) -> DefinedProgress:
        await self._walk_and_finish()
        return self.progress()

    # --- walking the steps ---------------------------------------------------------------

    def _next(self) -> tuple[int, StepSpec] | None:
        for i, step in enumerate(self._def.steps):
            if self._records[step.id].state in ("pending", "waiting"):
                return i, step
        return None

    async def _walk_steps(self) -> None:
        if await self._begin(DefinedSequenceActivities.begin_defined_sequence, self._inp) is None:
            return
        while self._state not in TERMINAL:
            if self._state == "paused":
                await workflow.wait_condition(lambda: self._state != "paused")
                continue
            found = self._next()
            if found is None:
                self._end("completed", None)
                return
            i, step = found
            record = self._records[step.id]
            record.state = "waiting"
            seen = self._changes
            due = await self._due(i, step, record)
            if due is None or self._changes != seen:
                continue  # ended, paused or edited meanwhile: look again
            record.due_at = due
            if not await self._sleep_until(due, f"Step {i + 1}/{len(self._def.steps)} due"):
                continue
            if self._state != "running" or record.state != "waiting" or record.due_at != due:
                continue  # a signal landed in the same activation as the timer
            await self._create(i, step, record)

    def _shift(self, step: StepSpec, record: StepRecord) -> timedelta:
        hours = self._paused_hours if step.anchor == "enrollment" else record.shift_hours
        return timedelta(hours=hours)

    async def _due(self, i: int, step: StepSpec, record: StepRecord) -> datetime | None:
        """When this step is due, counted from its anchor; None when it ended meanwhile."""
        if record.anchor_at is None:
            if step.anchor == "enrollment" or i == 0:
                record.anchor_at = self._start
            elif step.anchor == "previous_due":
                record.anchor_at = self._previous_due(i)
            else:
                anchor = await self._completion(i, step, record)
                if anchor is None:
                    return None
                record.anchor_at = anchor
        if record.due_now:  # its max_wait passed: due at that moment
            return record.anchor_at
        if not step.placed:
            return record.anchor_at + timedelta(hours=step.wait_hours) + self._shift(step, record)
        placed = await place_due(
            PlaceRequest(
                owner_id=self._inp.owner_id,
                contact_id=self._inp.contact_id,
                anchor=record.anchor_at + self._shift(step, record),
                wait=step.wait(),
                placement=step.placement,
                calendar=self._inp.calendar,
            ),
            f"Step {i + 1}: place its due time ({step.placement})",
        )
        record.placement_reason = placed.reason
        return placed.due_at

    def _previous_due(self, i: int) -> datetime:
        for step in reversed(self._def.steps[:i]):
            due = self._records[step.id].due_at
            if due is not None:
                return due
        return self._start

    def _previous_task(self, i: int) -> StepRecord | None:
        for step in reversed(self._def.steps[:i]):
            record = self._records[step.id]
            if record.state == "created":
                return record
        return None

    async def _completion(self, i: int, step: StepSpec, record: StepRecord) -> datetime | None:
        """Wait for the previous task's completion (or its max_wait); its time, or None when
        the enrollment ended, paused or was edited meanwhile."""
        previous = self._previous_task(i)
        if previous is None or previous.task_id is None:
            return workflow.now()  # nothing to wait for: every earlier step was skipped
        task_id = previous.task_id
        base = previous.created_at or workflow.now()
        seen = self._changes
        interval = COMPLETION_CHECK
        while task_id not in self._completed:
            if self._changes != seen:
                return None
            timeout = interval
            deadline = None
            if step.max_wait_hours is not None:
                deadline = base + timedelta(hours=step.max_wait_hours + record.deadline_shift_hours)
                timeout = min(timeout, deadline - workflow.now())
            if timeout > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: task_id in self._completed or self._changes != seen,
                        timeout=timeout,
                        timeout_summary=f"Step {i + 1}: waiting for task {task_id} to be done",
                    )
                    continue
                except TimeoutError:
                    pass
            if deadline is not None and workflow.now() >= deadline:
                if step.on_max_wait == "end":
                    self._end(
                        "stopped",
                        f"step {i + 1} ({step.id}): task {task_id} was not completed within "
                        f"{step.max_wait_hours:g} h",
                    )
                    return None
                record.reason = f"created after max_wait: task {task_id} was not completed"
                record.due_now = True
                return workflow.now()
            check = await workflow.execute_activity_method(
                DefinedSequenceActivities.check_task,
                task_id,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Is task {task_id} done?",
            )
            interval = min(interval * 2, COMPLETION_CHECK_MAX)
            if check.status == "completed":
                done = check.completed_at or workflow.now()
                self._completed[task_id] = min(done, workflow.now())
            elif check.status != "open":
                why = "deleted" if check.status is None else check.status
                self._end("stopped", f"step {i + 1} ({step.id}) waits for task {task_id}: {why}")
                return None
        return self._completed[task_id]

    async def _create(self, i: int, step: StepSpec, record: StepRecord) -> None:
        record.state = "creating"
        assert record.due_at is not None
        try:
            created = await workflow.execute_activity_method(
                DefinedSequenceActivities.create_defined_step,
                DefinedStepTask(
                    owner_id=self._inp.owner_id,
                    contact_id=self._inp.contact_id,
                    batch_id=self._inp.batch_id,
                    workflow_id=workflow.info().workflow_id,
                    definition_id=self._def.definition_id,
                    sequence_name=self._def.name,
                    step=step,
                    step_number=i + 1,
                    step_count=len(self._def.steps),
                    due_at=record.due_at,
                ),
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=f"Create task for step {i + 1}/{len(self._def.steps)} ({step.kind})",
            )
        except ActivityError as err:
            if failure_kind(err) == CONTACT_GONE:
                record.state = "skipped"
                self._end("stopped", "contact deleted")
                return
            if failure_kind(err) == TEMPLATE_PROBLEM:
                record.state, record.reason = "skipped", str(err.cause or err)[:MAX_REASON]
                return
            raise
        record.state, record.task_id = "created", created.task_id
        record.created_at = workflow.now()

    # --- signals beyond pause / resume / cancel (read raw, as nudge.core.signals explains) ---

    def _resumed(self, paused: timedelta) -> None:
        hours = paused / timedelta(hours=1)
        self._paused_hours += hours
        for record in self._records.values():
            if record.state != "waiting":
                continue
            if record.anchor_at is None:  # waiting for a completion: only max_wait moves
                record.deadline_shift_hours += hours
            else:
                record.shift_hours += hours
                record.due_at = None

    @workflow.signal
    def contact_event(self, *payload: object) -> None:
        try:
            event = one_object(payload, ContactEvent)
        except BadSignal as err:
            self._unread.add("contact_event", err)
            return
        reason = exit_reason(self._def, event)
        if reason:
            self._end("stopped", reason)

    @workflow.signal
    def task_completed(self, *payload: object) -> None:
        """A task of this enrollment was completed (the API sends its id)."""
        if len(payload) != 1 or not isinstance(payload[0], int) or isinstance(payload[0], bool):
            self._unread.add("task_completed", BadSignal("takes one JSON integer, the task id"))
            return
        self._completed.setdefault(payload[0], workflow.now())

    @workflow.signal
    def adopt_version(self, *payload: object) -> None:
        """A live edit: run the steps not created yet as the new version says. An older or
        repeated version changes nothing, so a redelivery is harmless."""
        try:
            new = one_object(payload, DefinitionSnapshot)
        except BadSignal as err:
            self._unread.add("adopt_version", err)
            return
        if new.definition_id != self._def.definition_id or new.version <= self._def.version:
            return
        if self._state in TERMINAL:
            return
        migration = adopt(self._def.steps, self._records, new, workflow.now(), self._def.version)
        self._def = new
        self._migrations = [*self._migrations, migration][-MAX_MIGRATIONS_KEPT:]
        self._changes += 1

    @workflow.signal
    def adopt_calendar(self, *payload: object) -> None:
        """The owner's calendar changed and said so for running enrollments: steps not placed
        yet are placed by the new one (a waiting one is placed again)."""
        try:
            change = one_object(payload, CalendarChange)
        except BadSignal as err:
            self._unread.add("adopt_calendar", err)
            return
        if self._state in TERMINAL or change.revision <= self._calendar_revision:
            return  # ended, or this change is not newer than the one it has
        self._calendar_revision = change.revision
        self._inp = self._inp.model_copy(update={"calendar": change.calendar})
        for step in self._def.steps:
            record = self._records[step.id]
            if step.placed and record.state in ("pending", "waiting"):
                record.due_at = None
        self._changes += 1

    @workflow.query
    def progress(self) -> DefinedProgress:
        steps = self._def.steps
        due = planned_due(steps, self._start + timedelta(hours=self._paused_hours), self._records)
        out = [
            StepOut(
                number=i + 1,
                id=s.id,
                kind=s.kind,
                state=self._records[s.id].state,
                due_at=due[i],
                task_id=self._records[s.id].task_id,
                reason=self._records[s.id].reason,
                placement_reason=self._records[s.id].placement_reason,
            )
            for i, s in enumerate(steps)
        ]
        # Steps passed before a live edit removed them stay in the record, after the others.
        current = {s.id for s in steps}
        out += [
            StepOut(
                number=0,
                id=r.id,
                kind=r.kind,
                state=r.state,
                due_at=r.due_at,
                task_id=r.task_id,
                reason=r.reason,
            )
            for r in self._records.values()
            if r.id not in current and r.state == "created"
        ]
        made = sum(1 for r in self._records.values() if r.state == "created")
        waiting = [
            o.due_at for o in out if o.state in ("pending", "waiting") and o.due_at is not None
        ]
        return DefinedProgress(
            workflow_id=workflow.info().workflow_id,
            batch_id=self._inp.batch_id,
            definition_id=self._def.definition_id,
            version=self._def.version,
            sequence_name=self._def.name,
            state=self._state,
            step=made,
            next_due_at=waiting[0] if waiting and self._state == "running" else None,
            tasks_created=made,
            stop_reason=self._stop_reason,
            steps=out,
            migrations=self._migrations,
            unread_signals=self._unread.kept,
        )
