"""The step editor's form: HTML fields to a checked DefinitionIn and back, with errors per
field (a step's field is `steps-<index>-<name>`, what ends an enrollment early is `exit_on`),
the add / remove / move buttons, and what a live edit would do to running enrollments, in
words."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from api.pages.forms import PLACEMENTS, number_text, problem_message, typed_number
from nudge.core.priority import as_text, from_text
from nudge.core.vocabulary import (
    ACTIVITY_TYPES,
    CONTACT_STATUSES,
    PRIORITIES,
    ApplyToRunning,
    OnMaxWait,
    StepKind,
)
from nudge.sequences.definition_schemas import (
    EXIT_ACTIVITY_TYPES,
    EXIT_STATUSES,
    MAX_STEPS,
    DefinitionIn,
    DefinitionOut,
    DefinitionPatch,
    ExitOnOut,
)
from nudge.sequences.definitions import stored_steps

STEP_FIELDS = (
    "id", "kind", "wait_amount", "wait_unit", "anchor", "placement", "max_wait_amount",
    "max_wait_unit", "on_max_wait", "title_template", "description_template", "priority",
    "reminder_offset_hours",
)  # fmt: skip
# A step's wait may count business days; its longest wait (a Wait) only days or hours.
WAIT_UNITS = {"days": "days", "hours": "hours", "business_days": "business days"}
MAX_WAIT_UNITS = ("days", "hours")
ANCHORS = {
    "previous_due": "the previous step's due time",
    "enrollment": "the enrollment",
    "previous_completed": "the previous task's completion",
}
# What the contact does, in words after "the contact": one checkbox each.
ACTIVITY_LABELS = {
    "email_opened": "opens an email",
    "email_clicked": "clicks a link in an email",
    "email_replied": "replies to an email",
    "form_submitted": "submits a form",
    "meeting_booked": "books a meeting",
    "call_logged": "has a call logged",
    "page_visited": "visits a page",
}
CHOICES = {
    "kinds": get_args(StepKind),
    "wait_units": WAIT_UNITS,
    "max_wait_units": MAX_WAIT_UNITS,
    "placements": PLACEMENTS,
    "anchors": ANCHORS,
    "on_max_wait": {"create": "create it anyway", "end": "end the enrollment"},
    "priorities": PRIORITIES,
    "exit_activities": {t: ACTIVITY_LABELS.get(t, t.replace("_", " ")) for t in ACTIVITY_TYPES},
    "exit_statuses": CONTACT_STATUSES,
}
# The exit checkboxes, and the hidden field saying the form had them: a post without it (a
# page from before they existed) keeps the exit conditions, rather than clearing them all.
EXIT_ACTIVITY, EXIT_STATUS, EXITS_SHOWN = "exit_activity", "exit_status", "exits_shown"
EXIT_KINDS = {"activity_types": "an activity", "statuses": "a contact status"}
APPLY: tuple[ApplyToRunning, ...] = ("none", "future_steps")
ON_MAX_WAIT: tuple[OnMaxWait, ...] = get_args(OnMaxWait)
TITLE = "Follow up with {{ contact_name }} ({{ step_number }}/{{ step_count }})"
KIND_FIELD = re.compile(r"steps-([0-9]{1,3})-kind")
STEP_ERROR = re.compile(r"steps-([0-9]+)(?:-(\w+))?")
FIELD_NAMES = {
    "wait": "wait",
    "max_wait": "longest wait",
    "title_template": "title",
    "description_template": "description",
    "reminder_offset_hours": "reminder",
}
OP = re.compile(r"(add)|(remove|up|down)-([0-9]{1,3})")
LABELS = {"exit_on": "ends early when"}


def blank_step() -> dict[str, str]:
    return {
        "id": "", "kind": "call", "wait_amount": "1", "wait_unit": "days",
        "anchor": "previous_due", "placement": "anytime", "max_wait_amount": "",
        "max_wait_unit": "days", "on_max_wait": "create", "title_template": TITLE,
        "description_template": "", "priority": "medium", "reminder_offset_hours": "",
    }  # fmt: skip


def default_exits() -> dict[str, list[str]]:
    return {"activity_types": list(EXIT_ACTIVITY_TYPES), "statuses": list(EXIT_STATUSES)}


def exits_differ(body: DefinitionIn, current: ExitOnOut) -> bool:
    """The form gave exit conditions other than the current ones (in any order)."""
    if "exit_on" not in body.model_fields_set:
        return False
    given = (set(body.exit_on.activity_types), set(body.exit_on.statuses))
    return given != (set(current.activity_types), set(current.statuses))


def _amount(wait: Mapping[str, float] | None) -> tuple[str, str]:
    """A stored wait ({"days": 2}, {"business_days": 3}) as the form's amount and unit."""
    if not wait:
        return "", "days"
    unit = next((u for u in WAIT_UNITS if u in wait), "days")
    return number_text(wait.get(unit)), unit


def _exit_problem(problem: ErrorDetails) -> str:
    """A value no checkbox sends (the form was tampered with, or is older than the
    vocabulary): named, and what to do."""
    loc, given = problem["loc"], problem["input"]
    if problem["type"] == "literal_error" and len(loc) == 3 and isinstance(given, str):
        shown = given if len(given) <= 40 else given[:40] + "…"
        kind = EXIT_KINDS.get(str(loc[1]), "a choice")
        return f"{shown!r} is not {kind} this form offers; reload the page and tick the boxes again"
    return problem_message(problem, "exit_on")


def error_key(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Where a pydantic problem is shown, and the field name its message may open with:
    ("steps", 2, "wait", "days") is step 3's wait; ("steps", 2) is step 3 as a whole."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        if len(loc) == 2 or loc[2] == "id":  # the id is hidden: show it on the step
            return f"steps-{loc[1]}", ""
        return f"steps-{loc[1]}-{loc[2]}", str(loc[2])
    where = str(loc[0]) if loc else "steps"
    return where, where


def field_label(key: str) -> str:
    match = STEP_ERROR.fullmatch(key)
    if match is None:
        return LABELS.get(key, key.replace("_", " "))
    name = match[2] or ""
    return f"step {int(match[1]) + 1} {FIELD_NAMES.get(name, name.replace('_', ' '))}".strip()


@dataclass
class DefinitionForm:
    """What the editor shows: the values as typed (steps as lists of text fields), and a
    message per field that is wrong."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> "DefinitionForm":
        values = {"name": "", "description": "", "steps": [blank_step()], "apply": "none"}
        return cls({**values, "exit_on": default_exits()})

    @classmethod
    def from_definition(cls, out: DefinitionOut, name: str | None = None) -> "DefinitionForm":
        steps = []
        for s in out.steps:
            wait, unit = _amount(s.wait)
            max_wait, max_unit = _amount(s.max_wait)
            steps.append(
                {
                    "id": s.id, "kind": s.kind, "wait_amount": wait, "wait_unit": unit,
                    "anchor": s.anchor, "placement": s.placement,
                    "max_wait_amount": max_wait, "max_wait_unit": max_unit,
                    "on_max_wait": s.on_max_wait, "title_template": s.title_template,
                    "description_template": s.description_template,
                    "priority": as_text(s.priority),  # by score: the object as JSON text
                    "reminder_offset_hours": number_text(s.reminder_offset_hours),
                }
            )  # fmt: skip
        values = {"name": out.name if name is None else name, "description": out.description}
        exits = out.exit_on.model_dump()
        return cls({**values, "steps": steps, "apply": "none", "exit_on": exits})

    @classmethod
    def from_post(cls, form: FormData) -> "DefinitionForm":
        def text(key: str) -> str:
            return str(form.get(key, "")).strip()

        def ticked(key: str) -> list[str]:  # each once, in the page's order; a few too many
            return list(dict.fromkeys(str(v).strip() for v in form.getlist(key)))[:21]

        indexes = sorted({int(m[1]) for key in form.keys() if (m := KIND_FIELD.fullmatch(key))})
        steps = [{f: text(f"steps-{i}-{f}") for f in STEP_FIELDS} for i in indexes]
        values = {
            "name": text("name"),
            "description": text("description"),
            "steps": steps[: MAX_STEPS + 1],  # one more is enough to be told it is too many
            "apply": text("apply_to_running") if text("apply_to_running") in APPLY else "none",
            "contact_id": text("contact_id"),
            "exit_on": (
                {"activity_types": ticked(EXIT_ACTIVITY), "statuses": ticked(EXIT_STATUS)}
                if EXITS_SHOWN in form
                else None  # not on the posted form: as they are (see `show_exits`)
            ),
        }
        return cls(values)

    def show_exits(self, editing: DefinitionOut | None) -> None:
        """A post without the exit checkboxes shows them as they are: the definition's, or
        the defaults of a new one."""
        if self.values.get("exit_on") is None:
            self.values["exit_on"] = editing.exit_on.model_dump() if editing else default_exits()

    def apply_op(self, op: str) -> None:
        """An editor button (add, remove-2, up-2, down-2) applied to the steps; nothing is
        checked or saved. A button that means nothing (a stale index) changes nothing."""
        steps: list[dict[str, str]] = self.values["steps"]
        match = OP.fullmatch(op)
        if match is None:
            return
        if match[1]:
            if len(steps) < MAX_STEPS:
                steps.append(blank_step())
            return
        verb, i = match[2], int(match[3])
        if i >= len(steps):
            return
        if verb == "remove":
            steps.pop(i)
            return
        j = i - 1 if verb == "up" else i + 1
        if 0 <= j < len(steps):
            steps[i], steps[j] = steps[j], steps[i]

    def checked(self) -> DefinitionIn | None:
        """The definition, or None with `errors` filled in (keyed by form field)."""
        v = self.values
        body: dict[str, Any] = {
            "name": v["name"],
            "description": v["description"],
            "steps": [_step_body(s) for s in v["steps"]],
        }
        if v.get("exit_on") is not None:  # left out: the defaults, or kept by a patch
            body["exit_on"] = v["exit_on"]
        try:
            return DefinitionIn.model_validate(body)
        except ValidationError as err:
            for problem in err.errors():
                where, name = error_key(tuple(problem["loc"]))
                message = _exit_problem(problem) if where == "exit_on" else None
                self.errors.setdefault(where, message or problem_message(problem, name))
            return None

    def problems(self) -> list[tuple[str, str]]:
        """(where, message) of every error, where in words: "step 3 title"."""
        return [(field_label(key), message) for key, message in self.errors.items()]

    def draft(self) -> DefinitionIn | None:
        """The definition if the form is valid, leaving `errors` as they are."""
        return DefinitionForm(self.values).checked()


def _step_body(s: dict[str, str]) -> dict[str, Any]:
    step: dict[str, Any] = {
        "kind": s["kind"],
        "wait": {s["wait_unit"] or "days": typed_number(s["wait_amount"])},
        "anchor": s["anchor"],
        "placement": s["placement"] or "anytime",
        "on_max_wait": s["on_max_wait"] if s["on_max_wait"] in ON_MAX_WAIT else "create",
        "title_template": s["title_template"],
        "description_template": s["description_template"],
        "priority": from_text(s["priority"]),
    }
    if s["id"]:
        step["id"] = s["id"]
    if s["max_wait_amount"] and s["anchor"] == "previous_completed":  # shown only then
        step["max_wait"] = {s["max_wait_unit"] or "days": typed_number(s["max_wait_amount"])}
    if s["reminder_offset_hours"]:
        step["reminder_offset_hours"] = typed_number(s["reminder_offset_hours"])
    return step


def as_patch(body: DefinitionIn, apply: ApplyToRunning, current: ExitOnOut) -> DefinitionPatch:
    """The editor's fields as a PATCH. The exit conditions only when the form gave other ones
    than `current` (the same ones in another order are no change, so no new version)."""
    keep = {"name", "description", "steps"} | (
        {"exit_on"} if exits_differ(body, current) else set()
    )
    fields = body.model_dump(include=keep, exclude_none=True)
    return DefinitionPatch.model_validate({**fields, "apply_to_running": apply})


@dataclass
class Consequence:
    """What saving would do to the running enrollments of a definition."""

    running: int
    version: int
    adopted: list[int]  # step numbers (1-based, in the new steps) new or changed
    removed: list[int]  # step numbers of the current version that are gone
    exits_changed: bool = False  # what ends an enrollment early

    @property
    def steps_changed(self) -> bool:
        return bool(self.adopted or self.removed)

    @property
    def changed(self) -> bool:
        return self.steps_changed or self.exits_changed


def consequence(
    running: int,
    version: int,
    current: list[dict[str, Any]],
    body: DefinitionIn | None,
    exits: ExitOnOut | None = None,
) -> Consequence:
    """Steps new (an id the current version lacks, or none yet) or changed, compared with the
    current version: those a running enrollment adopts with future_steps; and whether the
    exit conditions differ from the current ones (`exits`), which it adopts too."""
    if body is None:
        return Consequence(running, version, [], [])
    before = {s["id"]: s for s in current}
    after = stored_steps(body.steps)
    adopted = [
        i + 1
        for i, (step, stored) in enumerate(zip(body.steps, after, strict=True))
        if step.id is None or before.get(stored["id"]) != stored
    ]
    kept = {s.id for s in body.steps if s.id}
    removed = [i + 1 for i, s in enumerate(current) if s["id"] not in kept]
    exits_changed = exits is not None and exits_differ(body, exits)
    return Consequence(running, version, adopted, removed, exits_changed)
