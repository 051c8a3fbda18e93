"""HTTP bodies of the contacts API."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from nudge.core.types import (
    Email,
    NonEmpty,
    Strict,
    Timestamp,
    known_timezone,
)
from nudge.core.vocabulary import (
    Cadence,
    ContactStatus,
)


class ContactIn(Strict):
    external_id: NonEmpty = Field(description="Your CRM's id for the contact; upserts key on it.")
    name: NonEmpty
    email: Email | None = None
    status: ContactStatus = "lead"
    cadence: Cadence | None = None
    timezone: Annotated[str, AfterValidator(known_timezone)] = "UTC"


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    name: str
    email: str | None
    status: str
    cadence: str | None
    timezone: str
    created_at: Timestamp
    updated_at: Timestamp


class ContactPatch(Strict):
    name: NonEmpty | None = None
    email: Email | None = None
    status: ContactStatus | None = None
    cadence: Cadence | None = None
    timezone: Annotated[str, AfterValidator(known_timezone)] | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> "ContactPatch":
        cleared = [f for f in ("name", "status", "timezone") if f in self.model_fields_set
                   and getattr(self, f) is None]  # fmt: skip
        if cleared:
            raise ValueError(f"{', '.join(cleared)} can't be null; leave it out to keep it")
        return self
