"""HTTP bodies of task event subscriptions and their deliveries."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from nudge.core.types import Strict, Timestamp, UtcTime, no_nul, rfc3339_in_years
from nudge.core.vocabulary import DeliveryStatus, TaskEventType
from nudge.reminders.webhooks import webhook_host


def _public_url(value: str) -> str:
    webhook_host(value)  # its ValueError says what to fix
    return value


Url = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^https?://\S+$"),
    AfterValidator(no_nul),
    AfterValidator(_public_url),
]
EventTypes = Annotated[
    list[TaskEventType],
    Field(
        min_length=1,
        max_length=6,
        json_schema_extra={"uniqueItems": True},
        description="Which task events to send: task.created, task.updated (due time or "
        "priority), task.completed, task.cancelled, task.overdue, task.reminder_due.",
    ),
]


def _unique(types: list[str]) -> list[str]:
    if len(set(types)) != len(types):
        raise ValueError("each event type once")
    return types


class SubscriptionIn(Strict):
    url: Url = Field(description="Where events are POSTed (a public http(s) URL).")
    event_types: Annotated[EventTypes, AfterValidator(_unique)]


class SubscriptionPatch(Strict):
    url: Url | None = None
    event_types: Annotated[EventTypes, AfterValidator(_unique)] | None = None


class DeliveryHealth(BaseModel):
    pending: int = 0
    retrying: int = 0
    delivered: int = 0
    dead: int = 0


class SubscriptionOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    created_at: Timestamp
    health: DeliveryHealth = Field(description="Deliveries by where they stand.")


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_…), shown once: verify "
        "`webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}` with it."
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    task_id: int
    type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    created_at: Timestamp


RangeTime = Annotated[UtcTime, Field(json_schema_extra={"pattern": rfc3339_in_years(1971, 8999)})]


class ReplayRangeIn(Strict):
    """Every delivery of events written in [since, until) with one of these statuses."""

    since: RangeTime
    until: RangeTime
    statuses: list[DeliveryStatus] = Field(
        default_factory=lambda: list[DeliveryStatus](["dead"]),
        min_length=1,
        max_length=4,
        description="Which deliveries to send again (default: the dead ones).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "ReplayRangeIn":
        if self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class ReplayOut(BaseModel):
    replayed: int
