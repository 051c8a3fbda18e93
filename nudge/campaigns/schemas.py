"""HTTP bodies of campaigns and enrollments."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from nudge.calendar.schemas import PLACEMENT_HELP
from nudge.core.types import (
    Id,
    Integer,
    NonEmpty,
    Number,
    Strict,
    Timestamp,
    no_nul,
)
from nudge.core.vocabulary import Placement


class StepIn(Strict):
    message_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")] = Field(
        description="task creates a task; email, sms, … are recorded as skipped here."
    )
    name: NonEmpty
    body: Annotated[str, StringConstraints(max_length=5000), AfterValidator(no_nul)] = ""
    delay_days: Annotated[float, Number] = Field(
        0, ge=0, le=365, allow_inf_nan=False, description="After the previous step."
    )
    order: Annotated[int, Integer] = Field(
        ge=1, le=1000, description="Where the step runs; each step of a campaign has its own."
    )


class CampaignIn(Strict):
    name: NonEmpty
    placement: Placement = Field("anytime", description=PLACEMENT_HELP)
    steps: list[StepIn] = Field(
        min_length=1,
        max_length=100,
        description="No two steps with the same `order`.",
        json_schema_extra={"uniqueItems": True},  # identical steps share their order
    )

    @model_validator(mode="after")
    def _orders_unique(self) -> "CampaignIn":
        orders = [s.order for s in self.steps]
        if len(set(orders)) != len(orders):
            raise ValueError("each step needs its own order")
        return self


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order: int
    message_type: str
    name: str
    body: str
    delay_days: float


class CampaignOut(BaseModel):
    id: int
    name: str
    placement: Placement
    steps: list[StepOut]
    created_at: Timestamp


class EnrollIn(Strict):
    contact_ids: list[Id] = Field(min_length=1, max_length=1000)


class EnrollmentOut(BaseModel):
    contact_id: int
    workflow_id: str
    batch_id: int
    created: bool = Field(description="False when the contact was already enrolled.")


class EnrollOut(BaseModel):
    enrollments: list[EnrollmentOut]
