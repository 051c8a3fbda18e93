"""Each CRM's own webhooks, read as it sends them: the signature checked the provider's way,
the body turned into ProviderEvents, and an event interpreted by a connection's mappings.

Pure: no database, no clock (`now` is passed in), so the API, the background processing and
the `test` endpoint read a delivery the same way.

- HubSpot (`X-HubSpot-Signature-v3`): base64 HMAC-SHA256, keyed with the app's client secret,
  of `METHOD + URI + raw body + X-HubSpot-Request-Timestamp` (epoch ms), refused when the
  timestamp is more than 5 minutes away. The body is an array of up to 100 events; `eventId`
  is documented as not unique, so an event's key is composite (see `_hubspot_key`).
- Twenty (`X-Twenty-Webhook-Signature`): hex HMAC-SHA256 of `{timestamp}:{raw body}`, the
  timestamp (`X-Twenty-Webhook-Timestamp`) in epoch ms, 5 minutes either way. The body carries
  no event id; an event's key is its record's id and `updatedAt` (else a hash of the body).
  Both the per-record shape (`record`) and the batched one (`items[]`) are read, and the
  documentation's example shape (`event`, `data`).
- Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): checked by the
  `standardwebhooks` package; `webhook-id` is the event's key. The body is Nudge's own generic
  shape: `{"type": "contact.created" | "contact.updated" | "activity.created", "data": {…}}`.
"""

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError

from nudge.core.errors import NudgeError, Unprocessable
from nudge.core.types import Email
from nudge.core.vocabulary import (
    ACTIVITY_TYPES,
    CONTACT_STATUSES,
    ActivityType,
    ContactStatus,
    Provider,
)

WINDOW: Final = timedelta(minutes=5)
LABELS: Final[dict[str, str]] = {"hubspot": "HubSpot", "twenty": "Twenty", "standard": "CRM"}
# Keys longer than this are hashed: `{provider}:{integration}:{key}` must fit an event id (200).
MAX_KEY: Final = 150
MAX_ID: Final = 200  # a contact's external_id
_EMAIL: Final = TypeAdapter(Email)

# HubSpot's engagement objects (generic `object.*` subscriptions), by objectTypeId and by the
# name an `associationType` such as `CALL_TO_CONTACT` gives them.
HUBSPOT_CONTACT: Final = "0-1"
HUBSPOT_ENGAGEMENTS: Final = {
    "0-48": "call",
    "0-47": "meeting",
    "0-49": "email",
    "0-46": "note",
    "0-27": "task",
    "0-18": "communication",
}
_ASSOCIATION_NAMES: Final = {
    "CALL": "call",
    "MEETING": "meeting",
    "MEETING_EVENT": "meeting",
    "EMAIL": "email",
    "NOTE": "note",
    "TASK": "task",
    "COMMUNICATION": "communication",
}
# The 12 escapes HubSpot decodes in the URI it signs (v3), and only those.
_HUBSPOT_ESCAPES: Final = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE: Final = re.compile("|".join(_HUBSPOT_ESCAPES), re.IGNORECASE)
_MILLIS: Final = re.compile(r"[0-9]{1,16}")
# Twenty's records that tie a note or task to a person: an engagement with that contact.
_TWENTY_TARGETS: Final = {"noteTarget.created": "note", "taskTarget.created": "task"}


class Refused(NudgeError):
    """A delivery Nudge won't take: 401 (signature, timestamp) or 409 (already received)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class Malformed(Unprocessable):
    """A signed body that isn't what the provider sends; `loc` names the field."""

    def __init__(self, loc: tuple[str | int, ...], problem: str) -> None:
        self.loc = loc
        self.problem = problem
        where = ".".join(str(part) for part in loc) or "body"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class ProviderEvent:
    """One event of a delivery, in the provider's words (mappings are applied later)."""

    dedupe_key: str
    kind: str  # the provider's name for it: contact.creation, person.updated, …
    external_id: str | None = None  # the CRM's id of the contact it is about
    created: bool = False  # the CRM created the contact
    name: str | None = None
    email: str | None = None
    # Property → new value (HubSpot: the one that changed; Twenty: the record's fields).
    properties: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] | None = None  # which properties changed; None: not said
    activity: str | None = None  # the provider's engagement type (call, meeting, …)
    occurred_at: datetime | None = None
    ignored: str | None = None  # why Nudge does nothing with it

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed"] = list(self.changed) if self.changed is not None else None
        data["occurred_at"] = self.occurred_at.isoformat() if self.occurred_at else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ProviderEvent":
        values = dict(data)
        changed = values.get("changed")
        values["changed"] = tuple(changed) if changed is not None else None
        at = values.get("occurred_at")
        values["occurred_at"] = datetime.fromisoformat(at) if at else None
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Signatures


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _within_window(seconds: float, now: datetime, header: str) -> None:
    try:
        sent = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise Refused(401, f"{header} is not a time") from None
    if now - sent > WINDOW:
        minutes = int((now - sent).total_seconds() // 60)
        raise Refused(
            401,
            f"{header} is {minutes} minutes old: a delivery older than 5 minutes is refused "
            "(a replay, or a clock far off)",
        )
    if sent - now > WINDOW:
        raise Refused(401, f"{header} is more than 5 minutes ahead of Nudge's clock")


def _millis(headers: dict[str, str], name: str, signature: str) -> int:
    signed, value = headers.get(signature.lower()), headers.get(name.lower())
    if not signed or not value:
        raise Refused(401, f"unsigned: send the {signature} and {name} headers")
    if not _MILLIS.fullmatch(value.strip()):
        raise Refused(401, f"{name} must be epoch milliseconds, e.g. 1735066639761")
    return int(value.strip())


def hubspot_uri(url: str) -> str:
    """The request URI as HubSpot signs it: the 12 escapes its docs list decoded, no others."""
    return _ESCAPE.sub(lambda m: _HUBSPOT_ESCAPES[m.group(0).upper()], url)


def hubspot_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + hubspot_uri(url).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def twenty_signature(secret: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def verify_hubspot(
    secret: str, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    lowered = _lower(headers)
    if lowered.get("x-hubspot-signature") and not lowered.get("x-hubspot-signature-v3"):
        raise Refused(
            401,
            "HubSpot's v1/v2 signatures carry no timestamp, so a replay can't be told apart: "
            "Nudge takes X-HubSpot-Signature-v3 with X-HubSpot-Request-Timestamp",
        )
    sent = _millis(lowered, "X-HubSpot-Request-Timestamp", "X-HubSpot-Signature-v3")
    _within_window(sent / 1000, now, "X-HubSpot-Request-Timestamp")
    expected = hubspot_signature(
        secret, method, url, body, lowered["x-hubspot-request-timestamp"].strip()
    )
    given = lowered["x-hubspot-signature-v3"].strip()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(
            401,
            "X-HubSpot-Signature-v3 does not match: is `secret` the app's client secret, and "
            "does Nudge see the URL HubSpot calls (behind a proxy: the same scheme and host)?",
        )


def verify_twenty(
    secret: str, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    lowered = _lower(headers)
    sent = _millis(lowered, "X-Twenty-Webhook-Timestamp", "X-Twenty-Webhook-Signature")
    _within_window(sent / 1000, now, "X-Twenty-Webhook-Timestamp")
    expected = twenty_signature(secret, body, lowered["x-twenty-webhook-timestamp"].strip())
    given = lowered["x-twenty-webhook-signature"].strip().lower()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(
            401, "X-Twenty-Webhook-Signature does not match: is `secret` the webhook's secret?"
        )


def standard_webhook(secret: str) -> Webhook:
    """The secret as the `standardwebhooks` package reads it (`whsec_` and base64, as the spec
    has it); text it can't decode is used as its UTF-8 bytes."""
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError):  # binascii.Error is a ValueError
        return Webhook(secret.encode())


def verify_standard(
    secret: str, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    lowered = _lower(headers)
    if not all(lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
        raise Refused(
            401, "unsigned: send the webhook-id, webhook-timestamp and webhook-signature headers"
        )
    stamp = lowered["webhook-timestamp"].strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Refused(401, "webhook-timestamp must be epoch seconds, e.g. 1674087231")
    _within_window(int(stamp), now, "webhook-timestamp")
    try:
        # The package checks the timestamp too (5 minutes either way, by its own clock).
        standard_webhook(secret).verify(body, lowered, json_parse=False)
    except (WebhookVerificationError, EmptyWebhookSecretError, ValueError) as err:
        # ValueError: a signature entry without its "v1," (or bad base64) fails to unpack.
        reason = str(err) if isinstance(err, WebhookVerificationError) else "malformed"
        raise Refused(401, f"webhook-signature: {reason}") from None


Verify = Callable[[str, str, str, Mapping[str, str], bytes, datetime], None]
VERIFY: Final[dict[str, Verify]] = {
    "hubspot": verify_hubspot,
    "twenty": verify_twenty,
    "standard": verify_standard,
}


def verify(
    provider: Provider,
    secret: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> None:
    """None when the delivery is signed by `secret` within 5 minutes of `now`; else Refused
    (401) saying what is wrong."""
    VERIFY[provider](secret, method, url, headers, body, now)


# ---------------------------------------------------------------------------------------------
# Bodies


Loc = tuple[str | int, ...]


def _key(text: str) -> str:
    if len(text) <= MAX_KEY:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _object(value: Any, loc: Loc) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(loc, "must be a JSON object")
    return value


def _text(item: Mapping[str, Any], name: str, loc: Loc, *, required: bool = True) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise Malformed((*loc, name), "is required")
        return None
    if not isinstance(value, str):
        raise Malformed((*loc, name), "must be a string")
    return value


def _record_id(value: Any, loc: Loc) -> str:
    """A CRM record id (a number or a non-empty string) as Nudge's external_id."""
    if isinstance(value, bool) or value is None:
        raise Malformed(loc, "is required (the CRM's record id)")
    if isinstance(value, int):
        if value < 0:
            raise Malformed(loc, "must not be negative")
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(loc, "must be a record id (a number or a non-empty string)")
    if len(value.strip()) > MAX_ID:
        raise Malformed(loc, f"is over {MAX_ID} characters")
    return value.strip()


def _epoch_millis(value: Any, loc: Loc) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(loc, "must be epoch milliseconds (an integer)")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(loc, "is out of range") from None


def _iso(value: Any, loc: Loc) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(loc, "must be an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(loc, "must be an ISO 8601 time") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _part(value: Any) -> str:
    return "" if value is None else str(value)


def _hubspot_key(item: Mapping[str, Any], *parts: Any) -> str:
    """eventId is "not guaranteed to be unique" (HubSpot's docs): the account, the
    subscription, the event id, the object and the moment together name one event."""
    return _key(
        ":".join(
            _part(p)
            for p in (item.get("portalId"), item.get("subscriptionId"), item.get("eventId"), *parts)
        )
    )


def _hubspot_association(item: Mapping[str, Any], loc: Loc, kind: str) -> ProviderEvent:
    """An engagement (call, meeting, email, note, task) tied to a contact: an activity."""
    occurred = _epoch_millis(item.get("occurredAt"), (*loc, "occurredAt"))
    sides = [
        (item.get("fromObjectTypeId"), item.get("fromObjectId"), "fromObjectId"),
        (item.get("toObjectTypeId"), item.get("toObjectId"), "toObjectId"),
    ]
    association = item.get("associationType")
    if all(type_id is None for type_id, _, _ in sides) and isinstance(association, str):
        names = association.upper().split("_TO_")
        if len(names) == 2:
            sides = [
                ("contact" if names[0] == "CONTACT" else names[0], sides[0][1], "fromObjectId"),
                ("contact" if names[1] == "CONTACT" else names[1], sides[1][1], "toObjectId"),
            ]
    contact = [s for s in sides if s[0] in (HUBSPOT_CONTACT, "contact")]
    other = [s for s in sides if s not in contact]
    engagement = None
    if len(contact) == 1 and len(other) == 1:
        type_id = other[0][0]
        engagement = HUBSPOT_ENGAGEMENTS.get(str(type_id)) or _ASSOCIATION_NAMES.get(
            str(type_id).upper()
        )
    base_key = _hubspot_key(item, item.get("fromObjectId"), item.get("toObjectId"))
    if engagement is None:
        return ProviderEvent(
            base_key, kind, occurred_at=occurred,
            ignored=f"{kind} between {association or 'these objects'} is not an engagement "
            "with a contact",
        )  # fmt: skip
    if item.get("associationRemoved") is True:
        return ProviderEvent(
            base_key, kind, occurred_at=occurred, ignored=f"a {engagement} was unlinked"
        )
    contact_id = _record_id(contact[0][1], (*loc, contact[0][2]))
    engagement_id = _record_id(other[0][1], (*loc, other[0][2]))
    # Either side's subscription reports the link: one activity per engagement and contact.
    key = _key(f"{_part(item.get('portalId'))}:{engagement}:{engagement_id}:contact:{contact_id}")
    return ProviderEvent(
        key, kind, external_id=contact_id, activity=engagement, occurred_at=occurred
    )


def _hubspot_event(item: Any, loc: Loc) -> ProviderEvent:
    item = _object(item, loc)
    kind = item.get("subscriptionType") or item.get("eventType")  # the docs' table says eventType
    if not isinstance(kind, str):
        raise Malformed((*loc, "subscriptionType"), "is required (e.g. contact.creation)")
    if item.get("eventId") is None:
        raise Malformed((*loc, "eventId"), "is required")
    if kind.endswith(".associationChange"):
        return _hubspot_association(item, loc, kind)
    occurred = _epoch_millis(item.get("occurredAt"), (*loc, "occurredAt"))
    object_type = item.get("objectTypeId")
    if kind.startswith("object."):
        is_contact = str(object_type) == HUBSPOT_CONTACT
        action = kind.removeprefix("object.")
    else:
        is_contact = kind.startswith("contact.")
        action = kind.split(".", 1)[-1]
    object_id = item.get("objectId")
    key = _hubspot_key(item, object_id, item.get("occurredAt"), item.get("propertyName"))
    if not is_contact:
        what = HUBSPOT_ENGAGEMENTS.get(str(object_type))
        why = (
            f"a {what}'s {action} names no contact: subscribe to its associationChange"
            if what
            else f"{kind} is not about a contact"
        )
        return ProviderEvent(key, kind, occurred_at=occurred, ignored=why)
    if action not in ("creation", "propertyChange"):
        return ProviderEvent(
            key, kind, occurred_at=occurred, ignored=f"Nudge does nothing on {kind}"
        )
    external_id = _record_id(object_id, (*loc, "objectId"))
    if action == "creation":
        return ProviderEvent(key, kind, external_id=external_id, created=True, occurred_at=occurred)
    name = _text(item, "propertyName", loc)
    assert name is not None
    value = item.get("propertyValue")
    if value is not None and not isinstance(value, str | int | float):
        raise Malformed((*loc, "propertyValue"), "must be a string")
    return ProviderEvent(
        key,
        kind,
        external_id=external_id,
        properties={name: value},
        changed=(name,),
        occurred_at=occurred,
    )


def parse_hubspot(document: Any, raw: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    """An array of events (a single object is read as an array of one)."""
    items = document if isinstance(document, list) else [_object(document, ())]
    if len(items) > 1000:
        raise Malformed((), "more than 1000 events in one delivery")
    return [_hubspot_event(item, (i,)) for i, item in enumerate(items)]


def _twenty_person(record: Mapping[str, Any], loc: Loc) -> tuple[str | None, str | None]:
    """(name, email) of a person record, in the source's shape or the docs' flat one."""
    name_field = record.get("name")
    if isinstance(name_field, dict):
        first, last = name_field.get("firstName"), name_field.get("lastName")
    else:
        first, last = record.get("firstName"), record.get("lastName")
    parts = [p.strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    name = " ".join(parts) or None
    emails = record.get("emails")
    if isinstance(emails, dict):
        email = emails.get("primaryEmail")
    else:
        email = record.get("email")
    if email is not None and not isinstance(email, str):
        raise Malformed((*loc, "emails", "primaryEmail"), "must be a string")
    return name, (email or None)


def _twenty_event(
    event_name: str, entry: Any, loc: Loc, occurred: datetime | None, fallback_key: str
) -> ProviderEvent:
    entry = _object(entry, loc)
    record_field = "data" if "record" not in entry and "data" in entry else "record"
    record = _object(entry.get(record_field), (*loc, record_field))
    record_loc = (*loc, record_field)
    updated_at = record.get("updatedAt")
    record_id = record.get("id")
    key = (
        _key(f"{event_name}:{record_id}:{updated_at}")
        if isinstance(updated_at, str) and record_id is not None
        else fallback_key
    )
    if event_name in _TWENTY_TARGETS:
        person = record.get("personId")
        if person is None:
            return ProviderEvent(key, event_name, occurred_at=occurred,
                                 ignored=f"{event_name} is not tied to a person")  # fmt: skip
        return ProviderEvent(
            key,
            event_name,
            external_id=_record_id(person, (*record_loc, "personId")),
            activity=_TWENTY_TARGETS[event_name],
            occurred_at=occurred,
        )
    if event_name not in ("person.created", "person.updated"):
        return ProviderEvent(
            key, event_name, occurred_at=occurred, ignored=f"Nudge does nothing on {event_name}"
        )
    external_id = _record_id(record_id, (*record_loc, "id"))
    name, email = _twenty_person(record, record_loc)
    changed = entry.get("updatedFields")
    if changed is not None and (
        not isinstance(changed, list) or not all(isinstance(f, str) for f in changed)
    ):
        raise Malformed((*loc, "updatedFields"), "must be a list of field names")
    return ProviderEvent(
        key,
        event_name,
        external_id=external_id,
        created=event_name == "person.created",
        name=name,
        email=email,
        properties={k: v for k, v in record.items() if isinstance(v, str | int | float | None)},
        changed=tuple(changed) if changed is not None else None,
        occurred_at=occurred,
    )


def parse_twenty(document: Any, raw: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    body = _object(document, ())
    event_field = "event" if "eventName" not in body and "event" in body else "eventName"
    event_name = _text(body, event_field, ())
    assert event_name is not None
    date_field = "timestamp" if "eventDate" not in body and "timestamp" in body else "eventDate"
    occurred = _iso(body.get(date_field), (date_field,))
    digest = hashlib.sha256(raw).hexdigest()[:40]
    if "items" in body:
        items = body["items"]
        if not isinstance(items, list):
            raise Malformed(("items",), "must be a list")
        return [
            _twenty_event(event_name, entry, ("items", i), occurred, f"body:{digest}:{i}")
            for i, entry in enumerate(items)
        ]
    return [_twenty_event(event_name, body, (), occurred, f"body:{digest}")]


def parse_standard(document: Any, raw: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
    body = _object(document, ())
    key = _key(_lower(headers).get("webhook-id", "").strip() or "test")
    kind = _text(body, "type", ())
    assert kind is not None
    data = _object(body.get("data"), ("data",))
    occurred = _iso(body.get("timestamp"), ("timestamp",))
    if kind in ("contact.created", "contact.updated"):
        # `fullName`: the spec's own example of a contact.
        name_field = "fullName" if "name" not in data and "fullName" in data else "name"
        name = _text(data, name_field, ("data",), required=False)
        email = _text(data, "email", ("data",), required=False)
        return [
            ProviderEvent(
                key,
                kind,
                external_id=_record_id(data.get("id"), ("data", "id")),
                created=kind == "contact.created",
                name=name.strip() if name and name.strip() else None,
                email=email or None,
                properties={k: v for k, v in data.items() if isinstance(v, str | int | float)},
                occurred_at=occurred,
            )
        ]
    if kind == "activity.created":
        activity = _text(data, "activity_type", ("data",))
        return [
            ProviderEvent(
                key,
                kind,
                external_id=_record_id(data.get("contact_id"), ("data", "contact_id")),
                activity=activity,
                occurred_at=_iso(data.get("occurred_at"), ("data", "occurred_at")) or occurred,
            )
        ]
    return [ProviderEvent(key, kind, occurred_at=occurred, ignored=f"Nudge does nothing on {kind}")]


Parse = Callable[[Any, bytes, Mapping[str, str]], list[ProviderEvent]]
PARSE: Final[dict[str, Parse]] = {
    "hubspot": parse_hubspot,
    "twenty": parse_twenty,
    "standard": parse_standard,
}


def parse(
    provider: Provider, document: Any, raw: bytes, headers: Mapping[str, str]
) -> list[ProviderEvent]:
    """The delivery's events, in order; Malformed (422, naming the field) if it isn't what the
    provider sends. Events Nudge doesn't act on come back with `ignored` saying why."""
    return PARSE[provider](document, raw, headers)


# ---------------------------------------------------------------------------------------------
# Mappings


@dataclass(frozen=True)
class Mappings:
    provider: str
    status_property: str = "lifecyclestage"
    status_mapping: Mapping[str, str] = field(default_factory=dict)
    activity_mapping: Mapping[str, str] = field(default_factory=dict)
    score_property: str | None = None

    @classmethod
    def of(cls, row: Any) -> "Mappings":
        """A stored connection's (anything with these attributes, e.g. an Integration row)."""
        return cls(
            provider=row.provider,
            status_property=row.status_property,
            status_mapping=dict(row.status_mapping or {}),
            activity_mapping=dict(row.activity_mapping or {}),
            score_property=row.score_property,
        )


@dataclass
class Plan:
    """What Nudge does with one event: the contact to upsert, then at most one event."""

    external_id: str | None = None
    upsert: bool = False
    name: str | None = None
    email: str | None = None
    placeholder: str = ""  # the name of a contact created without one
    score: int | None = None
    status: ContactStatus | None = None
    activity: ActivityType | None = None
    ignored: list[str] = field(default_factory=list)


def _considered(event: ProviderEvent, prop: str | None) -> bool:
    if prop is None or prop not in event.properties:
        return False
    return event.changed is None or prop in event.changed


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number):  # NaN, ±inf (and 10**400, which float() makes inf)
        return None
    return max(0, min(100, round(number)))


def interpret(event: ProviderEvent, mappings: Mappings) -> Plan:
    """The event read through the connection's mappings (pure)."""
    if event.ignored is not None or event.external_id is None:
        return Plan(ignored=[event.ignored or f"{event.kind} names no contact"])
    plan = Plan(
        external_id=event.external_id,
        placeholder=f"{LABELS.get(mappings.provider, 'CRM')} contact {event.external_id}"[:200],
    )
    if event.name:
        plan.name = event.name.strip()[:200] or None
    if event.email:
        try:
            plan.email = _EMAIL.validate_python(event.email)
        except ValidationError:
            plan.ignored.append(f"email {event.email[:80]!r} is not an address")
    prop = mappings.status_property
    if _considered(event, prop):
        value = event.properties[prop]
        text = "" if value is None else str(value)
        mapped = mappings.status_mapping.get(text)
        if mapped is None and mappings.provider == "standard" and text in CONTACT_STATUSES:
            mapped = text  # the generic shape may name Nudge's statuses directly
        if mapped in CONTACT_STATUSES:
            plan.status = mapped  # type: ignore[assignment]  # checked against the literal's values
        elif text:
            plan.ignored.append(
                f"{prop} {text[:80]!r} is not in status_mapping (map it to one of "
                f"{', '.join(CONTACT_STATUSES)})"
            )
        else:
            plan.ignored.append(f"{prop} was cleared")
    if mappings.score_property and _considered(event, mappings.score_property):
        value = event.properties[mappings.score_property]
        plan.score = _score(value)
        if plan.score is None and value not in (None, ""):
            plan.ignored.append(f"{mappings.score_property} {str(value)[:40]!r} is not a number")
    if event.activity is not None:
        mapped = mappings.activity_mapping.get(event.activity)
        if mapped is None and mappings.provider == "standard" and event.activity in ACTIVITY_TYPES:
            mapped = event.activity
        if mapped in ACTIVITY_TYPES:
            plan.activity = mapped  # type: ignore[assignment]  # checked against the values
        else:
            plan.ignored.append(
                f"engagement type {event.activity[:80]!r} is not in activity_mapping (map it "
                f"to one of {', '.join(ACTIVITY_TYPES)})"
            )
    plan.upsert = bool(
        event.created
        or plan.name
        or plan.email
        or plan.score is not None
        or plan.status
        or plan.activity
    )
    if not plan.upsert and not plan.ignored:
        changed = ", ".join(event.changed if event.changed is not None else event.properties)
        plan.ignored.append(
            f"{event.kind}: nothing Nudge maps (status_property {prop!r}, score_property "
            f"{mappings.score_property!r}; changed: {changed[:120] or 'nothing'})"
        )
    return plan
