"""A custom step's task as its templates render it for a contact (shared by the step
activity and the previews, so a preview shows exactly what the step writes)."""

from dataclasses import dataclass
from datetime import datetime

from nudge.core.models import Contact
from nudge.core.templating import MAX_DESCRIPTION, MAX_TITLE, SEQUENCE_VARIABLES, render
from nudge.sequences.steps import StepSpec


@dataclass
class RenderedStep:
    title: str
    description: str


def render_step(
    step: StepSpec,
    contact: Contact,
    *,
    step_number: int,
    step_count: int,
    sequence_name: str,
    due_at: datetime | None,
) -> RenderedStep:
    """Raises TemplateProblem when a template can't render for this contact."""
    values: dict[str, str | int] = {
        "contact_name": contact.name,
        "step_number": step_number,
        "step_count": step_count,
        "sequence_name": sequence_name,
    }
    if contact.email:
        values["contact_email"] = contact.email
    if due_at is not None:
        values["due_date"] = due_at.strftime("%Y-%m-%d %H:%M UTC")
    return RenderedStep(
        title=render(step.title_template, values, MAX_TITLE, variables=SEQUENCE_VARIABLES),
        description=render(
            step.description_template, values, MAX_DESCRIPTION, variables=SEQUENCE_VARIABLES
        ),
    )
