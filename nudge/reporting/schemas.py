"""HTTP body of the stats endpoint."""

from datetime import date

from pydantic import (
    BaseModel,
    Field,
)

from nudge.core.types import (
    Timestamp,
)
from nudge.core.vocabulary import (
    Priority,
    TaskStatus,
)


class RuleCountsOut(BaseModel):
    total: int
    active: int


class TaskCountsOut(BaseModel):
    total: int
    by_status: dict[TaskStatus, int]
    by_priority: dict[Priority, int]
    overdue: int = Field(description="Open and past their due time now.")
    completion_rate: float | None = Field(
        description="completed / (total - cancelled), 0..1; null when there is none."
    )


class DayCountOut(BaseModel):
    date: date
    created: int


class RuleStatsOut(BaseModel):
    rule_id: int
    name: str
    trigger_type: str
    is_active: bool
    times_triggered: int = Field(description="All time: events (or time-rule runs) it matched.")
    tasks_created: int = Field(description="All time.")
    tasks: int = Field(description="Its tasks created in the window.")
    completed: int
    overdue: int
    completion_rate: float | None = Field(description="completed / (tasks - cancelled).")
    overdue_rate: float | None = Field(description="overdue / tasks.")
    median_hours_to_complete: float | None = Field(
        description="Median of completed_at - created_at over its completed tasks."
    )
    last_fired_at: Timestamp | None


class RunningOut(BaseModel):
    sequences: int = Field(description="Sequence batches still running (database).")
    campaign_enrollments: int
    cadences: int = Field(description="Contacts with a recurring cadence.")
    pending_firings: int = Field(description="Rule firings waiting for their time.")


class StatsOut(BaseModel):
    generated_at: Timestamp
    since: Timestamp | None
    until: Timestamp | None
    rules: RuleCountsOut
    tasks: TaskCountsOut
    tasks_per_day: list[DayCountOut] = Field(
        description="Tasks created per UTC day, zero-filled: the 30 days up to `until` (or "
        "today), or since..until when `since` is given (its last 366 days at most)."
    )
    per_rule: list[RuleStatsOut]
    running: RunningOut
    running_workflows: dict[str, int] | None = Field(
        description="Running workflows per kind (sequence, recurring, campaign, rule) counted "
        "by Temporal visibility, at most a few seconds old; null when Temporal can't answer."
    )
