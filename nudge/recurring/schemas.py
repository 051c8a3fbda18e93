"""HTTP bodies of recurring check-ins."""

from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
)

from nudge.calendar.schemas import PLACEMENT_HELP
from nudge.core.types import (
    Id,
    Strict,
    Timestamp,
    template_field,
)
from nudge.core.vocabulary import (
    Cadence,
    Placement,
    Priority,
)


class TaskTemplateIn(Strict):
    title: Annotated[str, template_field("task_template.title")] = Field(
        "{{ cadence | title }} check-in with {{ contact_name }}",
        description="Jinja2; also knows {{cadence}}.",
    )
    description: Annotated[str, template_field("task_template.description")] = ""
    priority: Priority = "medium"


class ScheduleRecurringIn(Strict):
    contact_id: Id
    cadence: Cadence
    task_template: TaskTemplateIn = Field(default_factory=TaskTemplateIn)
    placement: Placement = Field("anytime", description=PLACEMENT_HELP)


class RecurringOut(BaseModel):
    workflow_id: str
    contact_id: int
    cadence: str
    state: str
    next_due_at: Timestamp | None
    stop_reason: str | None
    placement: Placement = "anytime"
    placement_reason: str | None = Field(
        None, description="Why the next check-in moved from its cadence date (placement)."
    )
    due_local: str | None = Field(None, description="next_due_at in your calendar's zone.")
    due_contact_local: str | None = Field(None, description="In the contact's zone, if known.")
    temporal_ui_url: str
