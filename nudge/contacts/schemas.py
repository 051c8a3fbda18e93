"""HTTP bodies of the contacts API."""

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from nudge.core.priority import Score
from nudge.core.types import (
    Email,
    NonEmpty,
    Strict,
    Timestamp,
    TimeZoneName,
)
from nudge.core.vocabulary import (
    Cadence,
    ContactStatus,
)

SCORE_HELP = (
    "0-100, e.g. your CRM's lead score: a priority `by_score` reads it when a task is written. "
    "Null: no score (such a priority takes its `else`)."
)


class ContactIn(Strict):
    external_id: NonEmpty = Field(description="Your CRM's id for the contact; upserts key on it.")
    name: NonEmpty
    email: Email | None = None
    status: ContactStatus = "lead"
    cadence: Cadence | None = None
    timezone: TimeZoneName | None = Field(
        None,
        description="The contact's IANA zone: `contact_hours` and `best_time` placements read "
        "working hours in it. Null: unknown, the owner's calendar zone stands in.",
    )
    score: Score | None = Field(None, description=SCORE_HELP)


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    name: str
    email: str | None
    status: str
    cadence: str | None
    timezone: str | None
    score: int | None
    created_at: Timestamp
    updated_at: Timestamp


# A key left out keeps the field; the schema leaves null out where null is refused.
Unset = SkipJsonSchema[None]


class ContactPatch(Strict):
    """Only the fields given change. `email`, `cadence`, `timezone` and `score` may be null
    (cleared); `name` and `status` may not: leave them out to keep them."""

    name: NonEmpty | Unset = None
    email: Email | None = None
    status: ContactStatus | Unset = None
    cadence: Cadence | None = None
    timezone: TimeZoneName | None = None
    score: Score | None = Field(None, description=SCORE_HELP)

    @model_validator(mode="after")
    def _required_stay_set(self) -> "ContactPatch":
        cleared = [f for f in ("name", "status") if f in self.model_fields_set
                   and getattr(self, f) is None]  # fmt: skip
        if cleared:
            raise ValueError(f"{', '.join(cleared)} can't be null; leave it out to keep it")
        return self
