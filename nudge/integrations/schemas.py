"""HTTP bodies of CRM connections (inbound webhooks) and their `test` endpoint."""

import re
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from nudge.core.types import VISIBLE_TEXT, NonEmpty, Strict, Timestamp, no_nul
from nudge.core.vocabulary import ActivityType, ContactStatus, Provider

MAX_MAPPINGS: Final = 200


def _visible(max_length: int) -> tuple[Any, ...]:
    """Text with something besides whitespace, no NUL (as NonEmpty, at another length)."""
    return (
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(no_nul),
        Field(json_schema_extra={"pattern": VISIBLE_TEXT}),
    )


PropertyName = Annotated[str, *_visible(100)]


def _key(value: str) -> str:
    if not re.match(VISIBLE_TEXT, value):
        raise ValueError("a mapping's key must be some text (no NUL, not only whitespace)")
    return value


# Exact (not stripped): the CRM's values as it sends them.
MappingKey = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_key)]
KEYS: Final = {"minLength": 1, "maxLength": 200, "pattern": VISIBLE_TEXT}
Secret = Annotated[
    str,
    *_visible(500),
    Field(
        description="The secret the CRM signs with: HubSpot, the app's client secret; Twenty, "
        "the webhook's secret; Standard Webhooks, the `whsec_…` secret (read as the "
        "`standardwebhooks` package reads it; text it can't decode is used as its bytes). "
        "Stored as given, shown back masked.",
    ),
]
StatusMapping = Annotated[
    dict[MappingKey, ContactStatus],
    Field(
        max_length=MAX_MAPPINGS,
        json_schema_extra={"maxProperties": MAX_MAPPINGS, "propertyNames": KEYS},
        description="The CRM's value of `status_property` → a Nudge status; a value not "
        'listed changes nothing (the event is ignored, saying why). E.g. {"customer": '
        '"active", "other": "lost"}.',
    ),
]
ActivityMapping = Annotated[
    dict[MappingKey, ActivityType],
    Field(
        max_length=MAX_MAPPINGS,
        json_schema_extra={"maxProperties": MAX_MAPPINGS, "propertyNames": KEYS},
        description="The CRM's engagement type → a Nudge activity. HubSpot: `call`, "
        "`meeting`, `email`, `note`, `task`, `communication` (an engagement associated with a "
        "contact); Twenty: `note`, `task` (a note or task target on a person). E.g. "
        '{"meeting": "meeting_booked", "call": "call_logged"}.',
    ),
]


if TYPE_CHECKING:
    T = TypeVar("T")
    LeftOut: TypeAlias = T | None  # a key left out reads as None
else:

    class LeftOut:
        """`LeftOut[T]`: a key that may be left out (then None) but is never null: pydantic
        refuses null with the field's own name (`T | None` would accept it, and a union with
        SkipJsonSchema[None] names its members in the error), and the schema has no null."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """A left-out key's None default is no value the document should offer."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and "anyOf" not in prop:
            del prop["default"]


class IntegrationIn(Strict):
    """A connection to a CRM: its webhooks come in at `inbound_url`, signed with `secret`.
    The CRM's record id becomes the contact's `external_id`."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    provider: Provider = Field(
        description="`hubspot`, `twenty`, or `standard` (any sender of Standard Webhooks)."
    )
    name: LeftOut[NonEmpty] = Field(
        None, description="Yours to tell connections apart; left out, the provider's name."
    )
    secret: Secret
    status_property: PropertyName = Field(
        "lifecyclestage",
        description="The CRM property (HubSpot) or field (Twenty, standard `data`) whose "
        "value maps to the contact's status.",
    )
    status_mapping: StatusMapping = Field(default_factory=dict)
    activity_mapping: ActivityMapping = Field(default_factory=dict)
    score_property: PropertyName | None = Field(
        None,
        description="The property whose number (0-100; clamped) becomes the contact's score, "
        "e.g. `hubspotscore`. Null: scores are not read.",
    )


class IntegrationPatch(Strict):
    """Any subset of the fields, merged into the stored connection and checked as PUT checks
    it; only `score_property` may be null."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    provider: LeftOut[Provider] = None
    name: LeftOut[NonEmpty] = None
    secret: LeftOut[Secret] = None
    status_property: LeftOut[PropertyName] = None
    status_mapping: LeftOut[StatusMapping] = None
    activity_mapping: LeftOut[ActivityMapping] = None
    score_property: PropertyName | None = None


def masked(secret: str) -> str:
    """The secret as shown back: its last 4 characters, when it is long enough to spare them."""
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


class IntegrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    name: str
    inbound_url: str = Field(
        description="Paste this into the CRM as the webhook's target URL. No API key: the "
        "provider's signature authenticates each delivery."
    )
    secret: str = Field(description="Masked: `****` and the last 4 characters.")
    status_property: str
    status_mapping: dict[str, str]
    activity_mapping: dict[str, str]
    score_property: str | None
    received: int = Field(description="Deliveries accepted.")
    refused: int = Field(
        description="Deliveries refused: a bad signature or stale timestamp (401), events "
        "already received (409), a malformed payload (422)."
    )
    last_received_at: Timestamp | None
    last_refusal: str | None = Field(description="Why the last refused delivery was refused.")
    last_refused_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class InboundOut(BaseModel):
    """A delivery taken: its new events are stored and are being applied."""

    accepted: int = Field(description="New events stored, applied in the background.")
    duplicates: int = Field(description="Events of this delivery received before (skipped).")


class TestIn(Strict):
    payload: Any = Field(
        description="A body as the CRM would send it (e.g. HubSpot's array of events). Not "
        "signed: the test checks what Nudge would do with it, not who sent it."
    )


class ContactPreview(BaseModel):
    id: int | None = Field(description="The existing contact; null: it would be created.")
    would_be_created: bool
    external_id: str
    name: str
    email: str | None
    status: str = Field(description="Its status before this event.")


class EventPreview(BaseModel):
    kind: str = Field(description="`status_change` or `activity`.")
    new_status: str | None = None
    activity_type: str | None = None


class RuleRef(BaseModel):
    id: int
    name: str


class TestItem(BaseModel):
    """One event of the payload and what Nudge would do with it."""

    kind: str = Field(description="The provider's name for the event, e.g. contact.creation.")
    dedupe_key: str
    contact: ContactPreview | None = Field(description="Null: no contact is touched.")
    score: int | None = Field(description="The score it would set.")
    events: list[EventPreview]
    rules_that_would_fire: list[RuleRef]
    ignored: list[str] = Field(description="What Nudge would leave alone, and why.")


class TestOut(BaseModel):
    """What the payload would do, event by event, in order. Nothing was written."""

    items: list[TestItem]
