"""Custom sequences inside the workflow: the definition snapshot an enrollment runs, the
record of each of its steps, and a live edit's adoption of a new version (pure functions over
pydantic payloads, free of I/O: the workflow sandbox imports them, and the API previews with
the same code the workflow waits with)."""

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel

from nudge.calendar.timing import CalendarSnapshot, Wait
from nudge.core.contact_events import ContactEvent
from nudge.core.priority import ByScore
from nudge.core.signals import UnreadSignal
from nudge.core.vocabulary import (
    OnMaxWait,
    Placement,
    Priority,
    SequenceState,
    StepAnchor,
    StepKind,
    StepState,
)


class StepSpec(BaseModel):
    """One step as the workflow runs it (the API's `wait` is resolved to hours)."""

    id: str
    kind: StepKind = "todo"
    wait_hours: float
    # Instead of wait_hours: business days of the owner's calendar.
    wait_business_days: int | None = None
    placement: Placement = "anytime"
    anchor: StepAnchor = "previous_due"
    max_wait_hours: float | None = None
    on_max_wait: OnMaxWait = "create"
    title_template: str
    description_template: str = ""
    # By score: resolved by the step's activity, with the contact's score as it writes the
    # task. A plain string reads as it always did (histories hold it).
    priority: Priority | ByScore = "medium"
    reminder_offset_hours: float | None = None

    @property
    def placed(self) -> bool:
        """Its due time needs the calendar (else it is plain arithmetic, as ever)."""
        return self.placement != "anytime" or self.wait_business_days is not None

    def wait(self) -> Wait:
        if self.wait_business_days is not None:
            return Wait(business_days=self.wait_business_days)
        return Wait(hours=self.wait_hours)


class DefinitionSnapshot(BaseModel):
    """One version of a definition, as an enrollment was given it (or adopts it)."""

    definition_id: int
    version: int
    name: str
    steps: list[StepSpec]
    exit_activity_types: list[str]
    exit_statuses: list[str]


class DefinedSequenceInput(BaseModel):
    owner_id: int
    contact_id: int
    batch_id: int
    snapshot: DefinitionSnapshot
    start_delay_hours: float = 0
    enroll_job_id: int | None = None  # the bulk enrollment that started it, if one did
    # The owner's calendar when it started (or as a later adopt_calendar signal gave it):
    # placed steps read it. None: it had no placed step.
    calendar: CalendarSnapshot | None = None
    # When steps anchored on the enrollment count from (plus start_delay_hours), as the API
    # chose and answered; None (runs started before it existed): the workflow's start time.
    anchor: datetime | None = None


class StepRecord(BaseModel):
    """What happened (or will) at one step of one enrollment."""

    id: str
    kind: StepKind
    state: StepState = "pending"
    # When its wait is counted from, once known, and the due time it gives.
    anchor_at: datetime | None = None
    due_at: datetime | None = None
    # Time spent paused while this step waited: it pushes the step (and so later ones) later.
    shift_hours: float = 0
    task_id: int | None = None
    created_at: datetime | None = None
    reason: str | None = None
    version: int
    # Its max_wait passed without the completion: due at once (anchor_at is that moment).
    due_now: bool = False
    # Skipped because a live edit removed it: a later version may bring it back.
    removed: bool = False
    # Time spent paused while it waited for the previous task's completion: moves its
    # max_wait deadline, not its due time (that counts from the completion).
    deadline_shift_hours: float = 0
    # Why its placed due time moved from where the wait ends (weekend, holiday, …).
    placement_reason: str | None = None


class Migration(BaseModel):
    """A live edit an enrollment adopted: which steps it skipped, added and changed."""

    from_version: int
    to_version: int
    at: datetime
    skipped: list[str]
    added: list[str]
    changed: list[str]


class StepOut(BaseModel):
    number: int
    id: str
    kind: StepKind
    state: StepState
    due_at: datetime | None
    task_id: int | None
    reason: str | None
    placement_reason: str | None = None


class DefinedProgress(BaseModel):
    workflow_id: str
    batch_id: int
    definition_id: int
    version: int
    sequence_name: str
    state: SequenceState
    step: int  # steps whose task exists
    next_due_at: datetime | None
    tasks_created: int
    stop_reason: str | None
    steps: list[StepOut]
    migrations: list[Migration]
    unread_signals: list[UnreadSignal] = []


class DefinedStepTask(BaseModel):
    """The activity's input: render this step's templates for the contact and write its task."""

    owner_id: int
    contact_id: int
    batch_id: int
    workflow_id: str
    definition_id: int
    sequence_name: str
    step: StepSpec
    step_number: int
    step_count: int
    due_at: datetime


class TaskCheck(BaseModel):
    status: str | None  # None: the task no longer exists
    completed_at: datetime | None


def exit_reason(snapshot: DefinitionSnapshot, event: ContactEvent) -> str | None:
    """Why the event ends an enrollment of this definition, or None when it doesn't."""
    if event.type in snapshot.exit_activity_types:
        return f"contact event: {event.type}"
    if event.status is not None and event.status in snapshot.exit_statuses:
        return f"contact status changed to {event.status}"
    return None


def reminder_at(step: StepSpec, due: datetime) -> datetime | None:
    if step.reminder_offset_hours is None:
        return None
    return due - timedelta(hours=step.reminder_offset_hours)


Placer = Callable[[StepSpec, datetime], datetime | None]


def unplaced(step: StepSpec, anchor: datetime) -> datetime | None:
    """Plain arithmetic; a placed step's due time is not known until it is placed (the
    calendar decides), so None rather than a time that would be wrong."""
    if step.placed:
        return None
    return anchor + timedelta(hours=step.wait_hours)


def planned_due(
    steps: list[StepSpec],
    start: datetime,
    records: dict[str, StepRecord] | None = None,
    place: Placer = unplaced,
) -> list[datetime | None]:
    """Each step's due time: known ones from the records, the rest as planned from `start`
    (`place` turns a step's anchor time into its due time: the calendar's placement in a
    preview; plain arithmetic in a query, which can't look a calendar up). A step that waits
    for a completion not yet seen (and every `previous_due` step after it) has no due time
    yet."""
    records = records or {}
    out: list[datetime | None] = []
    previous: datetime | None = start
    for step in steps:
        record = records.get(step.id)
        if record is not None and record.due_at is not None:
            due: datetime | None = record.due_at
        elif step.anchor == "enrollment":
            due = place(step, start)
        elif step.anchor == "previous_due" and previous is not None:
            due = place(step, previous)
        else:
            due = None
        if record is None or record.state != "skipped":
            previous = due
        out.append(due)
    return out


def adopt(
    steps: list[StepSpec],
    records: dict[str, StepRecord],
    new: DefinitionSnapshot,
    now: datetime,
    from_version: int,
) -> Migration:
    """Move an enrollment onto `new` for the steps it has not created yet, in place.

    Steps are matched by id. Steps it has passed (created, being created, or skipped on its
    way) stay as they were; a step an earlier edit removed is not passed, and comes back if
    this version has it after the enrollment's position. Its position is the last
    new-version step it has passed: new steps after it are added, new steps before it are
    skipped (they belong to a part of the sequence it is past), and old steps it had not
    reached that the new version removes are skipped. A kept step keeps its anchor time: a
    changed wait is counted from the same anchor."""
    passed = {
        i
        for i, r in records.items()
        if r.state in ("created", "creating") or (r.state == "skipped" and not r.removed)
    }
    position = max((i for i, s in enumerate(new.steps) if s.id in passed), default=-1)
    new_ids = {s.id for s in new.steps}
    old = {s.id: s for s in steps}
    skipped: list[str] = []
    added: list[str] = []
    changed: list[str] = []
    for step_id, gone in records.items():
        if step_id not in passed and step_id not in new_ids and not gone.removed:
            gone.state, gone.reason = "skipped", f"removed in version {new.version}"
            gone.due_at, gone.removed = None, True
            skipped.append(step_id)
    for i, step in enumerate(new.steps):
        if step.id in passed:
            continue
        record = records.get(step.id)
        if i < position:
            reason = f"added in version {new.version} before this enrollment's position"
            if record is None:
                records[step.id] = StepRecord(
                    id=step.id, kind=step.kind, state="skipped", reason=reason, version=new.version
                )
            else:
                record.state, record.reason, record.due_at = "skipped", reason, None
                record.removed = False
            skipped.append(step.id)
            continue
        if record is None or record.removed:
            records[step.id] = StepRecord(id=step.id, kind=step.kind, version=new.version)
            added.append(step.id)
        else:
            if step != old.get(step.id):
                changed.append(step.id)
            record.kind, record.version = step.kind, new.version
            before = old.get(step.id)
            if before is None or step.anchor != before.anchor:
                record.anchor_at = None  # counted from the new anchor once it is known
            record.due_at = None  # recomputed from its anchor with the new wait
    return Migration(
        from_version=from_version,
        to_version=new.version,
        at=now,
        skipped=skipped,
        added=added,
        changed=changed,
    )
