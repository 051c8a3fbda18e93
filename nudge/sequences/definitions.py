"""Sequence definitions: the built-in presets and the owners' own, their immutable versions,
the snapshot an enrollment runs, and the preview of a definition for a contact.

Some 350 lines: every read and write of a definition's rows, under the one owner lock, sits
together, so no path reaches a version without the checks the others make."""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from nudge.calendar.placing import local, place_or_raw
from nudge.calendar.snapshots import calendar_snapshot
from nudge.calendar.timing import CalendarSnapshot, Placed
from nudge.contacts.lookup import owned_contact
from nudge.core.errors import Conflict, NotFound
from nudge.core.models import Contact, Owner, SequenceDefinition, SequenceVersion, TaskBatch, utcnow
from nudge.core.priority import resolve, stored
from nudge.core.templating import TemplateProblem
from nudge.core.vocabulary import SequenceType
from nudge.sequences.definition_schemas import (
    DefinitionIn,
    DefinitionOut,
    DefinitionPatch,
    DefinitionPreviewOut,
    DefinitionStepIn,
    StepPreviewOut,
    StepStored,
)
from nudge.sequences.presets import SEQUENCE_PRESETS
from nudge.sequences.render import render_step
from nudge.sequences.steps import (
    DefinitionSnapshot,
    StepSpec,
    planned_due,
    reminder_at,
    unplaced,
)

PRESET_TITLE = "Follow up with {{ contact_name }} ({{ step_number }}/{{ step_count }})"


def preset_steps(preset: SequenceType) -> list[dict[str, Any]]:
    """A built-in's steps as a definition states them (the preset workflow runs them)."""
    return [
        {
            "id": f"day-{day}",
            "kind": "todo",
            "wait": {"days": day},
            "anchor": "enrollment",
            "max_wait": None,
            "on_max_wait": "create",
            "title_template": PRESET_TITLE,
            "description_template": f"Day {day} of the {preset} follow-up sequence for "
            "{{ contact_name }}",
            "priority": "medium",
            "reminder_offset_hours": None,
        }
        for day in SEQUENCE_PRESETS[preset]
    ]


def stored_steps(steps: list[DefinitionStepIn]) -> list[dict[str, Any]]:
    """Steps as a version row keeps them, each with an id (made up when it had none)."""
    taken = {s.id for s in steps if s.id}
    out = []
    for step in steps:
        step_id = step.id
        while step_id is None or (step.id is None and step_id in taken):
            step_id = f"step-{secrets.token_hex(3)}"
        taken.add(step_id)
        out.append(
            {
                "id": step_id,
                "kind": step.kind,
                "wait": step.wait.model_dump(exclude_none=True),
                "placement": step.placement,
                "anchor": step.anchor,
                "max_wait": step.max_wait.model_dump(exclude_none=True) if step.max_wait else None,
                "on_max_wait": step.on_max_wait,
                "title_template": step.title_template,
                "description_template": step.description_template,
                "priority": stored(step.priority),  # the plain string, or the object
                "reminder_offset_hours": step.reminder_offset_hours,
            }
        )
    return out


def normal(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as answered, every field present: a step stored before a field existed equals
    the same step sent again with that field's default (no new version for nothing)."""
    return [StepStored.model_validate(step).model_dump() for step in steps]


def _hours(wait: dict[str, float]) -> float:
    return wait.get("hours", 0) + wait.get("days", 0) * 24


def step_spec(stored: dict[str, Any]) -> StepSpec:
    return StepSpec(
        id=stored["id"],
        kind=stored["kind"],
        wait_hours=_hours(stored["wait"]),
        wait_business_days=stored["wait"].get("business_days"),
        placement=stored.get("placement", "anytime"),
        anchor=stored["anchor"],
        max_wait_hours=_hours(stored["max_wait"]) if stored.get("max_wait") else None,
        on_max_wait=stored.get("on_max_wait", "create"),
        title_template=stored["title_template"],
        description_template=stored.get("description_template", ""),
        priority=stored.get("priority", "medium"),
        reminder_offset_hours=stored.get("reminder_offset_hours"),
    )


def one_writer(session: Session, owner_id: int) -> None:
    """An owner's definition writes one at a time, so the name check and the next version
    number are read under a lock: call it first in the transaction. A no-op UPDATE of the
    owner's row: PostgreSQL holds the row's lock until commit; SQLite's driver begins the
    transaction only at its first write (the reads before it are outside it), so this takes
    SQLite's write lock before anything is read."""
    session.execute(update(Owner).where(Owner.id == owner_id).values(name=Owner.name))


def visible_definition(session: Session, owner_id: int, definition_id: int) -> SequenceDefinition:
    """One of the owner's definitions or a built-in; another owner's is not found."""
    found = session.get(SequenceDefinition, definition_id)
    if found is None or (found.preset is None and found.owner_id != owner_id):
        raise NotFound(
            f"sequence definition {definition_id} not found; list yours with "
            "GET /api/task-automation/sequences/definitions/"
        )
    return found


def editable_definition(session: Session, owner_id: int, definition_id: int) -> SequenceDefinition:
    found = visible_definition(session, owner_id, definition_id)
    if found.preset is not None:
        raise Conflict(
            f"sequence definition {definition_id} ({found.name}) is built in and read-only; "
            "to change it, create your own with its steps (POST "
            "/api/task-automation/sequences/definitions/)"
        )
    return found


def current_steps(session: Session, definition: SequenceDefinition) -> list[dict[str, Any]]:
    if definition.preset is not None:
        return preset_steps(definition.preset)  # type: ignore[arg-type]
    steps = session.scalar(
        select(SequenceVersion.steps).where(
            SequenceVersion.definition_id == definition.id,
            SequenceVersion.version == definition.version,
        )
    )
    return list(steps or [])


def snapshot(session: Session, definition: SequenceDefinition) -> DefinitionSnapshot:
    """The current version, as an enrollment is given it."""
    return DefinitionSnapshot(
        definition_id=definition.id,
        version=definition.version,
        name=definition.name,
        steps=[step_spec(s) for s in current_steps(session, definition)],
        exit_activity_types=list(definition.exit_activity_types),
        exit_statuses=list(definition.exit_statuses),
    )


def running_pattern(owner_id: int, definition: SequenceDefinition) -> str:
    """The LIKE pattern of this owner's enrollments' workflow ids (nudge.core.ids)."""
    suffix = definition.preset if definition.preset else f"def-{definition.id}"
    return f"sequence-{owner_id}-%-{suffix}"


def running_enrollments(
    session: Session, owner_id: int, definition: SequenceDefinition
) -> list[tuple[int, str]]:
    """(batch id, workflow id) of the owner's running enrollments in this definition."""
    rows = session.execute(
        select(TaskBatch.id, TaskBatch.workflow_id).where(
            TaskBatch.owner_id == owner_id,
            TaskBatch.kind == "sequence",
            TaskBatch.status == "running",
            TaskBatch.workflow_id.like(running_pattern(owner_id, definition)),
        )
    )
    return [(row.id, row.workflow_id) for row in rows]


def _running_count(session: Session, owner_id: int, definition: SequenceDefinition) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                TaskBatch.owner_id == owner_id,
                TaskBatch.kind == "sequence",
                TaskBatch.status == "running",
                TaskBatch.workflow_id.like(running_pattern(owner_id, definition)),
            )
        )
        or 0
    )


def definition_out(
    session: Session, owner_id: int, definition: SequenceDefinition
) -> DefinitionOut:
    return DefinitionOut.model_validate(
        {
            "id": definition.id,
            "name": definition.name,
            "description": definition.description,
            "builtin": definition.preset is not None,
            "version": definition.version,
            "steps": current_steps(session, definition),
            "exit_on": {
                "activity_types": definition.exit_activity_types,
                "statuses": definition.exit_statuses,
            },
            "running_enrollments": _running_count(session, owner_id, definition),
            "created_at": definition.created_at,
            "updated_at": definition.updated_at,
        }
    )


def list_definitions(session: Session, owner_id: int) -> list[SequenceDefinition]:
    """The built-ins first, then the owner's own, oldest first."""
    return list(
        session.scalars(
            select(SequenceDefinition)
            .where(
                or_(SequenceDefinition.owner_id == owner_id, SequenceDefinition.preset.isnot(None))
            )
            .order_by(SequenceDefinition.preset.is_(None), SequenceDefinition.id)
        )
    )


def _name_free(session: Session, owner_id: int, name: str, but: int | None = None) -> None:
    """Names differ by more than case, compared here: SQLite's lower() knows ASCII only."""
    wanted = name.casefold()
    rows = session.execute(
        select(SequenceDefinition.id, SequenceDefinition.name).where(
            SequenceDefinition.owner_id == owner_id, SequenceDefinition.id != (but or 0)
        )
    )
    clash = next((row.id for row in rows if row.name.casefold() == wanted), None)
    if clash is not None:
        raise Conflict(f"you already have a sequence definition named {name!r} (id {clash})")


def create_definition(session: Session, owner_id: int, body: DefinitionIn) -> SequenceDefinition:
    one_writer(session, owner_id)
    _name_free(session, owner_id, body.name)
    definition = SequenceDefinition(
        owner_id=owner_id,
        name=body.name,
        description=body.description,
        version=1,
        exit_activity_types=list(body.exit_on.activity_types),
        exit_statuses=list(body.exit_on.statuses),
    )
    session.add(definition)
    session.flush()
    session.add(
        SequenceVersion(definition_id=definition.id, version=1, steps=stored_steps(body.steps))
    )
    session.flush()
    return definition


@dataclass
class Change:
    definition: SequenceDefinition
    new_version: bool  # the steps (or what ends an enrollment) changed: a version was written


def change_definition(
    session: Session, owner_id: int, definition_id: int, body: DefinitionIn | DefinitionPatch
) -> Change:
    """PUT (a whole DefinitionIn) or PATCH (the fields given). A change to the steps or the
    exit conditions writes a new version; name and description change in place."""
    one_writer(session, owner_id)
    definition = editable_definition(session, owner_id, definition_id)
    if body.name is not None and body.name != definition.name:
        _name_free(session, owner_id, body.name, but=definition.id)
        definition.name = body.name
    if body.description is not None:
        definition.description = body.description
    current = current_steps(session, definition)
    steps = current if body.steps is None else stored_steps(body.steps)
    stored_exits = (list(definition.exit_activity_types), list(definition.exit_statuses))
    exits = stored_exits
    if body.exit_on is not None:
        exits = (list(body.exit_on.activity_types), list(body.exit_on.statuses))
    changed = normal(steps) != normal(current) or exits != stored_exits
    if changed:
        definition.version += 1
        definition.exit_activity_types, definition.exit_statuses = exits
        session.add(
            SequenceVersion(definition_id=definition.id, version=definition.version, steps=steps)
        )
    definition.updated_at = utcnow()
    session.flush()
    return Change(definition, changed)


class StepPlacer:
    """Places each placed step's due time as the enrollment's activity will (the calendar as
    it is now, the contact's zone and engagement), and remembers why each one moved."""

    def __init__(
        self,
        session: Session,
        owner_id: int,
        contact: Contact,
        start: datetime,
        calendar: CalendarSnapshot | None = None,
    ) -> None:
        self.session, self.contact = session, contact
        self.calendar = calendar or calendar_snapshot(session, owner_id, start)
        self.placed: dict[str, Placed] = {}

    def __call__(self, step: StepSpec, anchor: datetime) -> datetime | None:
        if not step.placed:
            return unplaced(step, anchor)
        placed = place_or_raw(
            self.session, self.contact, anchor, step.wait(), step.placement, self.calendar, utcnow()
        )
        self.placed[step.id] = placed
        return placed.due_at

    def shown(self, step: StepSpec, when: datetime | None) -> dict[str, Any]:
        if when is None:
            return {"placement": step.placement}
        placed = self.placed.get(step.id)
        zone = self.contact.timezone
        return {
            "placement": placed.placement if placed else step.placement,
            "placement_reason": placed.reason if placed else None,
            "due_local": local(when, self.calendar.timezone),
            "due_contact_local": local(when, zone) if zone else None,
        }


def preview(
    session: Session,
    owner_id: int,
    contact_id: int,
    snap: DefinitionSnapshot,
    start_at: datetime | None,
) -> DefinitionPreviewOut:
    """Every step's task for this contact: title, kind, due and reminder time; writes nothing.
    A template that can't render for this contact answers with its problem as the title."""
    contact = owned_contact(session, owner_id, contact_id=contact_id)
    start = start_at or utcnow()
    placer = StepPlacer(session, owner_id, contact, start)
    due = planned_due(snap.steps, start, place=placer)
    out = []
    for i, step in enumerate(snap.steps):
        note = None
        if due[i] is None:
            note = (
                "due after the previous task is completed"
                if step.anchor == "previous_completed"
                else "due after an earlier step that waits for a completion"
            )
            if step.max_wait_hours is not None:
                note += f" ({step.on_max_wait} after {step.max_wait_hours:g} h without it)"
        try:
            rendered = render_step(
                step,
                contact,
                step_number=i + 1,
                step_count=len(snap.steps),
                sequence_name=snap.name,
                due_at=due[i],
            )
            title, description = rendered.title, rendered.description
        except TemplateProblem as err:
            title, description = f"(can't render: {err})", ""
        when = due[i]
        out.append(
            StepPreviewOut(
                number=i + 1,
                id=step.id,
                kind=step.kind,
                title=title,
                description=description,
                priority=resolve(step.priority, contact.score),
                due_at=when,
                reminder_at=reminder_at(step, when) if when else None,
                note=note,
                **placer.shown(step, when),
            )
        )
    return DefinitionPreviewOut(
        definition_id=snap.definition_id or None,
        version=snap.version or None,
        steps=out,
    )


def draft_snapshot(body: DefinitionIn) -> DefinitionSnapshot:
    """An unsaved definition, as it would run (for the editor's preview)."""
    return DefinitionSnapshot(
        definition_id=0,
        version=0,
        name=body.name,
        steps=[step_spec(s) for s in stored_steps(body.steps)],
        exit_activity_types=list(body.exit_on.activity_types),
        exit_statuses=list(body.exit_on.statuses),
    )
