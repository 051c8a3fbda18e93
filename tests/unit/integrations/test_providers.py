"""Each provider's signature, checked against its own test vectors, and each documented sample
payload read into the right events; mappings applied to them."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from nudge.integrations.providers import (
    Malformed,
    Mappings,
    ProviderEvent,
    Refused,
    hubspot_signature,
    hubspot_uri,
    interpret,
    parse,
    twenty_signature,
    verify,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
URL = "https://nudge.example.com/api/inbound/hubspot/7/"
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
TWENTY_SECRET = "your-secret"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def hubspot_headers(body: bytes, at: datetime, secret: str = HUBSPOT_SECRET) -> dict[str, str]:
    stamp = millis(at)
    return {
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", URL, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def twenty_headers(body: bytes, at: datetime, secret: str = TWENTY_SECRET) -> dict[str, str]:
    stamp = millis(at)
    return {
        "X-Twenty-Webhook-Signature": twenty_signature(secret, body, stamp),
        "X-Twenty-Webhook-Timestamp": stamp,
        "X-Twenty-Webhook-Nonce": "0" * 32,
    }


def standard_headers(
    body: bytes, at: datetime, msg_id: str = "msg_1", secret: str = STANDARD_SECRET
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


# --- Signatures: the providers' own vectors ---------------------------------------------------


def test_hubspot_v3_matches_the_python_sdks_vector():
    """HubSpot/hubspot-api-python tests/spec/utils/test_signature.py."""
    signature = hubspot_signature(
        HUBSPOT_SECRET,
        "POST",
        "https://www.example.com/webhook_uri",
        b"{'example_field':'example_value'}",
        "15000000",
    )
    assert signature == "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="


def test_the_hubspot_fixture_is_the_bytes_of_hubspots_v1_vector():
    """The docs' v1 example: sha256(secret + body) of exactly these bytes."""
    body = fixture("hubspot_sdk_contact_creation.json")
    digest = hashlib.sha256(HUBSPOT_SECRET.encode() + body).hexdigest()
    assert digest == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"


def test_hubspot_decodes_only_the_escapes_its_docs_list():
    assert hubspot_uri("https://x.test/a%3Ab%2fc?q=%40%20") == "https://x.test/a:b/c?q=@%20"


def test_standard_webhooks_matches_the_packages_vector():
    at = datetime.fromtimestamp(1614265330, UTC)
    signature = Webhook(STANDARD_SECRET).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", at, '{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_twenty_signs_timestamp_colon_raw_body():
    body = fixture("twenty_source_person_created.json")
    signature = twenty_signature(TWENTY_SECRET, body, "1735066639761")
    assert signature == "80bdaf179443e597e288d085136431692fb8d8078ed8f16cd7b5cc6b14026ead"
    # Re-serialised JSON is another string, another signature: the raw bytes are what count.
    again = json.dumps(json.loads(body)).encode()
    assert twenty_signature(TWENTY_SECRET, again, "1735066639761") != signature


SIGNERS: dict[str, Any] = {
    "hubspot": (hubspot_headers, HUBSPOT_SECRET, "hubspot_sdk_contact_creation.json"),
    "twenty": (twenty_headers, TWENTY_SECRET, "twenty_source_person_created.json"),
    "standard": (standard_headers, STANDARD_SECRET, "standard_spec_contact_created_thin.json"),
}
OTHER_SECRETS = {
    "hubspot": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    "twenty": "not-your-secret",
    "standard": "whsec_" + base64.b64encode(b"another secret, 24 bytes!").decode(),
}


@pytest.mark.parametrize("provider", SIGNERS)
def test_a_signed_delivery_passes(provider):
    sign, secret, name = SIGNERS[provider]
    now = datetime.now(UTC)
    body = fixture(name)
    verify(provider, secret, "POST", URL, sign(body, now - timedelta(seconds=30)), body, now)


@pytest.mark.parametrize("provider", SIGNERS)
def test_a_wrong_secret_is_refused(provider):
    sign, secret, name = SIGNERS[provider]
    now, body = datetime.now(UTC), fixture(name)
    headers = sign(body, now, secret=OTHER_SECRETS[provider])
    with pytest.raises(Refused) as refused:
        verify(provider, secret, "POST", URL, headers, body, now)
    assert refused.value.status_code == 401


@pytest.mark.parametrize("provider", SIGNERS)
@pytest.mark.parametrize("minutes", [6, -6])
def test_a_timestamp_over_5_minutes_off_is_refused(provider, minutes):
    sign, secret, name = SIGNERS[provider]
    now, body = datetime.now(UTC), fixture(name)
    headers = sign(body, now - timedelta(minutes=minutes))  # signed right, but then
    with pytest.raises(Refused) as refused:
        verify(provider, secret, "POST", URL, headers, body, now)
    assert refused.value.status_code == 401
    assert "5 minutes" in refused.value.message


@pytest.mark.parametrize("provider", SIGNERS)
def test_a_tampered_body_is_refused(provider):
    sign, secret, name = SIGNERS[provider]
    now, body = datetime.now(UTC), fixture(name)
    headers = sign(body, now)
    tampered = body.replace(b"1", b"2", 1)
    with pytest.raises(Refused):
        verify(provider, secret, "POST", URL, headers, tampered, now)


@pytest.mark.parametrize("provider", SIGNERS)
def test_no_signature_is_refused(provider):
    _, secret, name = SIGNERS[provider]
    with pytest.raises(Refused) as refused:
        verify(provider, secret, "POST", URL, {}, fixture(name), datetime.now(UTC))
    assert "unsigned" in refused.value.message


def test_hubspot_signs_the_url_it_called():
    now, body = datetime.now(UTC), fixture("hubspot_docs_batch.json")
    headers = hubspot_headers(body, now)
    with pytest.raises(Refused, match="URL"):
        verify("hubspot", HUBSPOT_SECRET, "POST", URL.replace("https", "http"), headers, body, now)


def test_hubspot_v1_alone_is_refused_for_lack_of_a_timestamp():
    body = fixture("hubspot_sdk_contact_creation.json")
    headers = {
        "X-HubSpot-Signature": "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
        "X-HubSpot-Signature-Version": "v1",
    }
    with pytest.raises(Refused, match="v3"):
        verify("hubspot", HUBSPOT_SECRET, "POST", URL, headers, body, datetime.now(UTC))


@pytest.mark.parametrize(
    "secret", ["whsec_" + base64.b64encode(b"k" * 32).decode(), "my-secret", "a"]
)
def test_a_standard_secret_is_read_as_the_package_reads_it(secret):
    """`whsec_` base64 as the spec has it; text the package can't decode ("a") as its bytes."""
    now, body = datetime.now(UTC), fixture("standard_spec_contact_created_thin.json")
    try:
        signer = Webhook(secret)
    except ValueError:
        signer = Webhook(secret.encode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign("msg_1", now, body.decode()),
    }
    verify("standard", secret, "POST", URL, headers, body, now)


@pytest.mark.parametrize("signature", ["garbage", "v1,not-base64!", "v1a,abc", "", "v1,"], ids=repr)
def test_a_malformed_standard_signature_is_a_refusal_not_a_crash(signature):
    """The package raises a bare ValueError for an entry without its comma."""
    now, body = datetime.now(UTC), fixture("standard_spec_contact_created_thin.json")
    headers = standard_headers(body, now) | {"webhook-signature": signature}
    with pytest.raises(Refused):
        verify("standard", STANDARD_SECRET, "POST", URL, headers, body, now)


@pytest.mark.parametrize("stamp", ["soon", "1e9", "-5", "١٢٣", "9" * 40])
def test_a_timestamp_that_is_no_number_is_refused(stamp):
    now, body = datetime.now(UTC), fixture("twenty_source_person_created.json")
    headers = twenty_headers(body, now) | {"X-Twenty-Webhook-Timestamp": stamp}
    with pytest.raises(Refused):
        verify("twenty", TWENTY_SECRET, "POST", URL, headers, body, now)
    headers = standard_headers(body, now) | {"webhook-timestamp": stamp}
    with pytest.raises(Refused):
        verify("standard", STANDARD_SECRET, "POST", URL, headers, body, now)


# --- Bodies ----------------------------------------------------------------------------------


def read(provider: str, name: str, headers: dict[str, str] | None = None) -> list[ProviderEvent]:
    raw = fixture(name)
    return parse(provider, json.loads(raw), raw, headers or {})  # type: ignore[arg-type]


def test_hubspots_docs_batch_is_a_status_change_and_a_creation():
    change, creation = read("hubspot", "hubspot_docs_batch.json")
    assert (change.kind, change.external_id, change.properties, change.changed) == (
        "contact.propertyChange",
        "1246965",
        {"lifecyclestage": "subscriber"},
        ("lifecyclestage",),
    )
    assert change.occurred_at == datetime(2016, 5, 2, 19, 11, 47, 945000, UTC)
    assert (creation.kind, creation.external_id, creation.created) == (
        "contact.creation",
        "1246978",
        True,
    )
    # eventId isn't unique: the key names the account, subscription, object and moment too.
    assert change.dedupe_key == "33:25:3816279340:1246965:1462216307945:lifecyclestage"
    assert creation.dedupe_key == "33:22:3816279480:1246978:1462216307945:"


def test_hubspots_sdk_event_reads_subscription_type():
    (event,) = read("hubspot", "hubspot_sdk_contact_creation.json")
    assert (event.kind, event.external_id, event.created) == ("contact.creation", "123", True)


def test_twentys_docs_example_is_a_person():
    (event,) = read("twenty", "twenty_docs_person_created.json")
    assert (event.kind, event.external_id, event.created, event.name, event.email) == (
        "person.created",
        "abc12345",
        True,
        "Alice Doe",
        "alice@example.com",
    )
    assert event.occurred_at == datetime(2025, 2, 10, 15, 30, 50, tzinfo=UTC)
    assert event.dedupe_key.startswith("body:")  # no updatedAt: the body's hash


def test_twentys_posted_shape_is_a_person():
    (event,) = read("twenty", "twenty_source_person_created.json")
    assert (event.external_id, event.name, event.email) == (
        "2f1a9c0e-0000-4000-8000-000000000001",
        "Alice Doe",
        "alice@example.com",
    )


def test_twentys_batch_is_one_event_per_item_keyed_by_record_state():
    body = json.loads(fixture("twenty_source_person_created.json"))
    record = body.pop("record") | {"updatedAt": "2024-02-14T11:27:01.000Z", "stage": "CUSTOMER"}
    body["eventName"] = "person.updated"
    body["items"] = [
        {"record": record, "updatedFields": ["stage"]},
        {"record": record | {"id": "p-2"}, "updatedFields": ["emails"]},
    ]
    raw = json.dumps(body).encode()
    first, second = parse("twenty", body, raw, {})
    assert (first.external_id, first.changed, first.properties["stage"]) == (
        "2f1a9c0e-0000-4000-8000-000000000001",
        ("stage",),
        "CUSTOMER",
    )
    assert first.dedupe_key == (
        "person.updated:2f1a9c0e-0000-4000-8000-000000000001:2024-02-14T11:27:01.000Z"
    )
    assert second.external_id == "p-2" and second.dedupe_key != first.dedupe_key


def test_standards_spec_examples_are_contacts_keyed_by_webhook_id():
    (full,) = read("standard", "standard_spec_contact_created_full.json", {"webhook-id": "msg_9"})
    assert (full.kind, full.external_id, full.name, full.dedupe_key) == (
        "contact.created",
        "1f81eb52-5198-4599-803e-771906343485",
        "John Smith",
        "msg_9",
    )
    (thin,) = read("standard", "standard_spec_contact_created_thin.json", {"webhook-id": "m"})
    assert (thin.external_id, thin.name, thin.created) == (full.external_id, None, True)


@pytest.mark.parametrize(
    ("provider", "document", "field"),
    [
        ("hubspot", [{"eventId": 1, "occurredAt": 1}], "0.subscriptionType"),
        ("hubspot", [{"subscriptionType": "contact.creation", "occurredAt": 1}], "0.eventId"),
        (
            "hubspot",
            [{"subscriptionType": "contact.creation", "eventId": 1, "occurredAt": 1}],
            "0.objectId",
        ),
        (
            "hubspot",
            [
                {
                    "subscriptionType": "contact.propertyChange",
                    "eventId": 1,
                    "occurredAt": 1,
                    "objectId": 5,
                }
            ],
            "0.propertyName",
        ),
        ("hubspot", [{"subscriptionType": "contact.creation", "eventId": 1}], "0.occurredAt"),
        ("hubspot", ["nope"], "0"),
        ("twenty", {"record": {"id": "x"}}, "eventName"),
        ("twenty", {"eventName": "person.created", "record": {}}, "record.id"),
        ("twenty", {"eventName": "person.created", "items": [{"record": 5}]}, "items.0.record"),
        ("twenty", [], "body"),
        ("standard", {"type": "contact.created", "data": {"name": "x"}}, "data.id"),
        (
            "standard",
            {"type": "activity.created", "data": {"contact_id": "c"}},
            "data.activity_type",
        ),
        ("standard", {"data": {}}, "type"),
    ],
)
def test_a_malformed_body_names_its_field(provider, document, field):
    with pytest.raises(Malformed) as malformed:
        parse(provider, document, json.dumps(document).encode(), {"webhook-id": "m"})
    assert (".".join(map(str, malformed.value.loc)) or "body") == field


def test_events_nudge_does_not_act_on_are_read_with_the_reason():
    document = [
        {"subscriptionType": "company.creation", "eventId": 1, "occurredAt": 1, "objectId": 9},
        {"subscriptionType": "contact.deletion", "eventId": 2, "occurredAt": 1, "objectId": 9},
        {"subscriptionType": "object.creation", "objectTypeId": "0-48", "eventId": 3,
         "occurredAt": 1, "objectId": 9},
    ]  # fmt: skip
    events = parse("hubspot", document, b"", {})
    assert [e.ignored for e in events] == [
        "company.creation is not about a contact",
        "Nudge does nothing on contact.deletion",
        "a call's creation names no contact: subscribe to its associationChange",
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"fromObjectTypeId": "0-47", "fromObjectId": 77, "toObjectTypeId": "0-1", "toObjectId": 5},
        {"fromObjectTypeId": "0-1", "fromObjectId": 5, "toObjectTypeId": "0-47", "toObjectId": 77},
        {"associationType": "MEETING_EVENT_TO_CONTACT", "fromObjectId": 77, "toObjectId": 5},
    ],
)
def test_an_engagement_associated_with_a_contact_is_one_activity_either_way(event):
    item = {"subscriptionType": "object.associationChange", "eventId": 4, "portalId": 33,
            "occurredAt": 1, "associationRemoved": False} | event  # fmt: skip
    (read_event,) = parse("hubspot", [item], b"", {})
    assert (read_event.external_id, read_event.activity) == ("5", "meeting")
    assert read_event.dedupe_key == "33:meeting:77:contact:5"


# --- Mappings --------------------------------------------------------------------------------

HUBSPOT = Mappings(
    provider="hubspot",
    status_mapping={"customer": "active", "other": "lost"},
    activity_mapping={"meeting": "meeting_booked"},
    score_property="hubspotscore",
)


def change(prop: str, value: Any) -> ProviderEvent:
    return ProviderEvent("k", "contact.propertyChange", "123", properties={prop: value},
                         changed=(prop,))  # fmt: skip


def test_a_mapped_lifecycle_stage_is_a_status():
    plan = interpret(change("lifecyclestage", "customer"), HUBSPOT)
    assert (plan.upsert, plan.status, plan.external_id, plan.ignored) == (
        True,
        "active",
        "123",
        [],
    )
    assert plan.placeholder == "HubSpot contact 123"


def test_an_unmapped_stage_is_ignored_saying_why():
    plan = interpret(change("lifecyclestage", "evangelist"), HUBSPOT)
    assert not plan.upsert and plan.status is None
    assert plan.ignored == [
        "lifecyclestage 'evangelist' is not in status_mapping (map it to one of lead, prospect, "
        "active, inactive, lost)"
    ]


@pytest.mark.parametrize(("value", "score"), [("42", 42), ("250", 100), (-3, 0), ("7.6", 8)])
def test_a_score_is_read_and_clamped(value, score):
    assert interpret(change("hubspotscore", value), HUBSPOT).score == score


def test_another_property_changes_nothing():
    plan = interpret(change("firstname", "Ada"), HUBSPOT)
    assert not plan.upsert and "nothing Nudge maps" in plan.ignored[0]


def test_an_engagement_maps_to_an_activity_or_is_ignored():
    event = ProviderEvent("k", "object.associationChange", "5", activity="meeting")
    assert interpret(event, HUBSPOT).activity == "meeting_booked"
    call = ProviderEvent("k", "object.associationChange", "5", activity="call")
    assert "not in activity_mapping" in interpret(call, HUBSPOT).ignored[0]


def test_the_standard_shape_may_name_nudges_own_words():
    mappings = Mappings(provider="standard", status_property="status")
    event = ProviderEvent("k", "contact.updated", "c-1", properties={"status": "active"})
    assert interpret(event, mappings).status == "active"
    event = ProviderEvent("k", "activity.created", "c-1", activity="email_replied")
    assert interpret(event, mappings).activity == "email_replied"


def test_a_twenty_update_that_leaves_the_status_alone_is_no_status_change():
    mappings = Mappings(provider="twenty", status_property="stage",
                        status_mapping={"CUSTOMER": "active"})  # fmt: skip
    event = ProviderEvent("k", "person.updated", "p", name="Ada", properties={"stage": "CUSTOMER"},
                          changed=("emails",))  # fmt: skip
    plan = interpret(event, mappings)
    assert (plan.upsert, plan.status, plan.name) == (True, None, "Ada")


def test_an_event_round_trips_through_its_stored_json():
    (event,) = read("hubspot", "hubspot_sdk_contact_creation.json")
    assert ProviderEvent.from_json(json.loads(json.dumps(event.to_json()))) == event


def test_a_score_that_is_no_finite_number_is_no_score():
    from nudge.integrations.providers import _score

    for value in ("inf", "-Infinity", 10**400, float("nan"), "NaN", True, "x"):
        assert _score(value) is None, value
    assert (_score("85.4"), _score(-3), _score(250)) == (85, 0, 100)
