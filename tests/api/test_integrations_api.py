"""CRM webhooks in, over real HTTP: each provider's documented sample signed as the provider
signs it becomes the right contact, status and activity; bad signatures, stale timestamps,
replays and malformed bodies are refused, counted and change nothing; twenty concurrent
deliveries of one event apply once; connections are CRUD, owned, and dry-runnable."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from nudge.core.models import CrmEvent, InboundEvent, RuleFiring
from nudge.integrations.providers import hubspot_signature, twenty_signature
from tests.support import auth, poll

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
BASE = "/api/integrations/"
RULES = "/api/task-automation/rules/"
HUBSPOT_SECRET = "8b1f6a4e-hubspot-client-secret-0042"
TWENTY_SECRET = "twenty-webhook-secret-4242"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def hubspot(url: str, body: bytes, secret: str = HUBSPOT_SECRET, at: datetime | None = None):  # type: ignore[no-untyped-def]
    stamp = millis(at or datetime.now(UTC))
    return {
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v1",
        "Content-Type": "application/json",
    }


def twenty(url: str, body: bytes, secret: str = TWENTY_SECRET, at: datetime | None = None):  # type: ignore[no-untyped-def]
    stamp = millis(at or datetime.now(UTC))
    return {
        "X-Twenty-Webhook-Signature": twenty_signature(secret, body, stamp),
        "X-Twenty-Webhook-Timestamp": stamp,
        "X-Twenty-Webhook-Nonce": "ab" * 16,
        "Content-Type": "application/json",
    }


def standard(  # type: ignore[no-untyped-def]
    url: str, body: bytes, secret: str = STANDARD_SECRET, at: datetime | None = None, msg="msg_1"
):
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg, at, body.decode()),
        "Content-Type": "application/json",
    }


SECRETS = {"hubspot": HUBSPOT_SECRET, "twenty": TWENTY_SECRET, "standard": STANDARD_SECRET}
SIGN = {"hubspot": hubspot, "twenty": twenty, "standard": standard}


async def connect(api: httpx.AsyncClient, tenant: Any, provider: str, **fields: Any) -> dict:
    body = {"provider": provider, "secret": SECRETS[provider]} | fields
    resp = await api.post(BASE, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def deliver(
    api: httpx.AsyncClient, connection: dict, body: bytes, **sign: Any
) -> httpx.Response:
    url = connection["inbound_url"]
    headers = SIGN[connection["provider"]](url, body, **sign)
    return await api.post(url, content=body, headers=headers)


def rows(sessions, connection: dict) -> list[InboundEvent]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.scalars(
                select(InboundEvent)
                .where(InboundEvent.integration_id == connection["id"])
                .order_by(InboundEvent.id)
            )
        )


async def applied(sessions, connection: dict, count: int) -> list[InboundEvent]:  # type: ignore[no-untyped-def]
    async def fetch() -> list[InboundEvent]:
        return rows(sessions, connection)

    done = await poll(
        fetch, lambda r: len(r) == count and all(row.status != "pending" for row in r)
    )
    assert [row.status for row in done] != [] and all(r.status != "pending" for r in done), [
        (r.status, r.detail) for r in done
    ]
    return done


async def contacts(api: httpx.AsyncClient, tenant: Any) -> dict[str, dict]:
    resp = await api.get("/api/contacts/?limit=500", headers=auth(tenant))
    return {c["external_id"]: c for c in resp.json()["items"]}


async def make_rule(api: httpx.AsyncClient, tenant: Any, trigger: str, config: dict) -> dict:
    body = {
        "name": f"{trigger} rule",
        "trigger_type": trigger,
        "trigger_config": config,
        "task_title_template": "Follow up with {{contact_name}}",
        "delay_hours": 24,
    }
    resp = await api.post(RULES, json=body, headers=auth(tenant))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def firings(api: httpx.AsyncClient, tenant: Any, rule: dict) -> list[dict]:
    resp = await api.get(f"{RULES}{rule['id']}/firings/", headers=auth(tenant))
    return resp.json()["items"]


def crm_events(sessions, owner_id: int) -> list[CrmEvent]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.scalars(
                select(CrmEvent).where(CrmEvent.owner_id == owner_id).order_by(CrmEvent.id)
            )
        )


# --- HubSpot ---------------------------------------------------------------------------------


async def test_hubspots_docs_batch_becomes_a_contact_a_status_change_and_a_firing(
    api, tenant, sessions
):
    rule = await make_rule(api, tenant, "status_change", {"from_status": "lead",
                                                          "to_status": "prospect"})  # fmt: skip
    connection = await connect(api, tenant, "hubspot", status_mapping={"subscriber": "prospect"})
    assert connection["inbound_url"].endswith(f"/api/inbound/hubspot/{connection['id']}/")
    resp = await deliver(api, connection, fixture("hubspot_docs_batch.json"))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 2, "duplicates": 0}
    done = await applied(sessions, connection, 2)
    assert [r.status for r in done] == ["processed", "processed"], [r.detail for r in done]
    people = await contacts(api, tenant)
    # objectId is the contact's id in HubSpot: it becomes the external_id.
    assert people["1246965"]["status"] == "prospect"
    assert people["1246965"]["name"] == "HubSpot contact 1246965"
    assert people["1246978"]["status"] == "lead"
    fired = await firings(api, tenant, rule)
    assert [(f["contact_id"], f["event_id"]) for f in fired] == [
        (people["1246965"]["id"], f"hubspot:{connection['id']}:{done[0].dedupe_key}")
    ]
    events = crm_events(sessions, tenant.owner_id)
    assert [(e.kind, e.old_status, e.new_status) for e in events] == [
        ("status_change", "lead", "prospect")
    ]
    counted = (await api.get(f"{BASE}{connection['id']}/", headers=auth(tenant))).json()
    assert (counted["received"], counted["refused"]) == (1, 0)
    assert counted["last_received_at"] is not None


async def test_hubspots_sdk_creation_makes_contact_123(api, tenant, sessions):
    connection = await connect(api, tenant, "hubspot")
    resp = await deliver(api, connection, fixture("hubspot_sdk_contact_creation.json"))
    assert resp.status_code == 202, resp.text
    await applied(sessions, connection, 1)
    assert (await contacts(api, tenant))["123"]["name"] == "HubSpot contact 123"


async def test_a_hubspot_meeting_on_a_contact_is_an_activity_that_fires_a_rule(
    api, tenant, sessions
):
    rule = await make_rule(api, tenant, "activity", {"activity_types": ["meeting_booked"]})
    connection = await connect(
        api, tenant, "hubspot", activity_mapping={"meeting": "meeting_booked"}
    )
    event = {
        "eventId": 9, "subscriptionId": 3, "portalId": 33, "appId": 1,
        "occurredAt": int(datetime.now(UTC).timestamp() * 1000),
        "subscriptionType": "object.associationChange", "attemptNumber": 0,
        "fromObjectTypeId": "0-47", "fromObjectId": 501, "toObjectTypeId": "0-1",
        "toObjectId": 777, "associationRemoved": False, "isPrimaryAssociation": False,
    }  # fmt: skip
    body = json.dumps([event]).encode()
    assert (await deliver(api, connection, body)).status_code == 202
    (row,) = await applied(sessions, connection, 1)
    assert row.status == "processed", row.detail
    events = crm_events(sessions, tenant.owner_id)
    assert [(e.kind, e.activity_type) for e in events] == [("activity", "meeting_booked")]
    people = await contacts(api, tenant)
    assert [f["contact_id"] for f in await firings(api, tenant, rule)] == [people["777"]["id"]]


async def test_an_unmapped_stage_is_stored_and_ignored_saying_why(api, tenant, sessions):
    connection = await connect(api, tenant, "hubspot", status_mapping={"customer": "active"})
    before = await contacts(api, tenant)
    assert (await deliver(api, connection, fixture("hubspot_docs_batch.json"))).status_code == 202
    change, creation = await applied(sessions, connection, 2)
    assert change.status == "ignored"
    assert "'subscriber' is not in status_mapping" in (change.detail or "")
    assert creation.status == "processed"
    assert set(await contacts(api, tenant)) - set(before) == {"1246978"}


# --- Twenty ----------------------------------------------------------------------------------


async def test_twentys_docs_example_becomes_alice(api, tenant, sessions):
    connection = await connect(api, tenant, "twenty")
    resp = await deliver(api, connection, fixture("twenty_docs_person_created.json"))
    assert resp.status_code == 202, resp.text
    await applied(sessions, connection, 1)
    alice = (await contacts(api, tenant))["abc12345"]
    assert (alice["name"], alice["email"], alice["status"]) == (
        "Alice Doe",
        "alice@example.com",
        "lead",
    )


async def test_twentys_posted_shape_and_a_stage_change_fire_a_rule(api, tenant, sessions):
    rule = await make_rule(api, tenant, "status_change", {"to_status": "active"})
    connection = await connect(
        api, tenant, "twenty", status_property="stage", status_mapping={"CUSTOMER": "active"}
    )
    created = fixture("twenty_source_person_created.json")
    assert (await deliver(api, connection, created)).status_code == 202
    await applied(sessions, connection, 1)
    person_id = "2f1a9c0e-0000-4000-8000-000000000001"
    assert (await contacts(api, tenant))[person_id]["name"] == "Alice Doe"
    update = json.loads(created)
    update["eventName"] = "person.updated"
    update["record"] |= {"stage": "CUSTOMER", "updatedAt": "2024-02-15T09:00:00.000Z"}
    update["updatedFields"] = ["stage"]
    body = json.dumps(update, separators=(",", ":")).encode()
    assert (await deliver(api, connection, body)).status_code == 202
    await applied(sessions, connection, 2)
    alice = (await contacts(api, tenant))[person_id]
    assert alice["status"] == "active"
    assert [f["contact_id"] for f in await firings(api, tenant, rule)] == [alice["id"]]


async def test_twentys_batched_items_are_read_each(api, tenant, sessions):
    connection = await connect(api, tenant, "twenty")
    body = json.loads(fixture("twenty_source_person_created.json"))
    record = body.pop("record")
    body |= {"items": [{"record": record}, {"record": record | {"id": "p-2"}}], "batchSize": 2}
    assert (await deliver(api, connection, json.dumps(body).encode())).status_code == 202
    await applied(sessions, connection, 2)
    assert {"p-2", record["id"]} <= set(await contacts(api, tenant))


# --- Standard Webhooks -----------------------------------------------------------------------


async def test_the_specs_contact_and_a_generic_activity(api, tenant, sessions):
    rule = await make_rule(api, tenant, "activity", {"activity_types": ["email_replied"]})
    connection = await connect(api, tenant, "standard")
    full = fixture("standard_spec_contact_created_full.json")
    assert (await deliver(api, connection, full, msg="msg_full")).status_code == 202
    await applied(sessions, connection, 1)
    contact_id = "1f81eb52-5198-4599-803e-771906343485"
    assert (await contacts(api, tenant))[contact_id]["name"] == "John Smith"
    activity = {"type": "activity.created", "timestamp": datetime.now(UTC).isoformat(),
                "data": {"contact_id": contact_id, "activity_type": "email_replied"}}  # fmt: skip
    body = json.dumps(activity).encode()
    assert (await deliver(api, connection, body, msg="msg_reply")).status_code == 202
    await applied(sessions, connection, 2)
    fired = await firings(api, tenant, rule)
    assert [f["event_id"] for f in fired] == [f"standard:{connection['id']}:msg_reply"]


# --- Refusals --------------------------------------------------------------------------------


async def test_a_wrong_secret_a_stale_timestamp_and_a_replay_are_refused_and_counted(
    api, tenant, sessions
):
    connection = await connect(api, tenant, "hubspot", status_mapping={"subscriber": "active"})
    body = fixture("hubspot_docs_batch.json")
    before = await contacts(api, tenant)

    wrong = await deliver(api, connection, body, secret="not-the-client-secret")
    assert wrong.status_code == 401, wrong.text
    assert "X-HubSpot-Signature-v3 does not match" in wrong.json()["detail"]
    assert wrong.headers["www-authenticate"]
    stale = await deliver(api, connection, body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert stale.status_code == 401 and "6 minutes old" in stale.json()["detail"]
    unsigned = await api.post(connection["inbound_url"], content=body)
    assert unsigned.status_code == 401
    assert await contacts(api, tenant) == before and rows(sessions, connection) == []

    assert (await deliver(api, connection, body)).status_code == 202
    await applied(sessions, connection, 2)
    after_first = await contacts(api, tenant)
    replay = await deliver(api, connection, body)  # freshly signed: the events were received
    assert replay.status_code == 409, replay.text
    assert "already received" in replay.json()["detail"]
    assert len(rows(sessions, connection)) == 2
    assert await contacts(api, tenant) == after_first
    assert len(crm_events(sessions, tenant.owner_id)) == 1

    counted = (await api.get(f"{BASE}{connection['id']}/", headers=auth(tenant))).json()
    assert (counted["received"], counted["refused"]) == (1, 4)
    assert counted["last_refusal"].startswith("already received")
    assert counted["last_refused_at"] is not None


async def test_a_batch_with_old_and_new_events_stores_the_new_ones(api, tenant, sessions):
    connection = await connect(api, tenant, "hubspot")
    first = json.loads(fixture("hubspot_docs_batch.json"))
    assert (await deliver(api, connection, json.dumps(first[:1]).encode())).status_code == 202
    resp = await deliver(api, connection, json.dumps(first).encode())
    assert resp.status_code == 202 and resp.json() == {"accepted": 1, "duplicates": 1}
    await applied(sessions, connection, 2)


async def test_a_malformed_payload_is_a_422_naming_the_field_and_stores_nothing(
    api, tenant, sessions
):
    connection = await connect(api, tenant, "hubspot")
    event = json.loads(fixture("hubspot_sdk_contact_creation.json"))[0]
    del event["objectId"]
    resp = await deliver(api, connection, json.dumps([event]).encode())
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "0.objectId"
    not_json = await deliver(api, connection, b"[{]")
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"
    assert rows(sessions, connection) == []
    counted = (await api.get(f"{BASE}{connection['id']}/", headers=auth(tenant))).json()
    assert counted["refused"] == 2 and counted["received"] == 0
    assert "malformed payload" in counted["last_refusal"]


async def test_an_unknown_connection_or_another_providers_url_is_404(api, tenant):
    connection = await connect(api, tenant, "twenty")
    body = fixture("twenty_docs_person_created.json")
    url = connection["inbound_url"].replace("/twenty/", "/hubspot/")
    resp = await api.post(url, content=body, headers=hubspot(url, body, secret=TWENTY_SECRET))
    assert resp.status_code == 404
    gone = connection["inbound_url"].replace(f"/{connection['id']}/", "/2147483647/")
    assert (await api.post(gone, content=body)).status_code == 404


async def test_twenty_concurrent_deliveries_of_one_event_apply_once(api, tenant, sessions):
    rule = await make_rule(api, tenant, "status_change", {"to_status": "active"})
    connection = await connect(api, tenant, "hubspot", status_mapping={"customer": "active"})
    event = {
        "objectId": 4242, "propertyName": "lifecyclestage", "propertyValue": "customer",
        "changeSource": "CRM", "eventId": 100, "subscriptionId": 25, "portalId": 33,
        "appId": 1160452, "occurredAt": int(datetime.now(UTC).timestamp() * 1000),
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
    }  # fmt: skip
    body = json.dumps([event]).encode()
    answers = await asyncio.gather(*(deliver(api, connection, body) for _ in range(20)))
    assert sorted(r.status_code for r in answers) == [202] + [409] * 19, [
        r.text for r in answers if r.status_code not in (202, 409)
    ]
    (row,) = await applied(sessions, connection, 1)
    assert row.status == "processed", row.detail
    people = await contacts(api, tenant)
    assert people["4242"]["status"] == "active"
    assert [e.new_status for e in crm_events(sessions, tenant.owner_id)] == ["active"]
    assert len(await firings(api, tenant, rule)) == 1
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(RuleFiring).where(RuleFiring.rule_id == rule["id"])
            )
            == 1
        )
    counted = (await api.get(f"{BASE}{connection['id']}/", headers=auth(tenant))).json()
    assert (counted["received"], counted["refused"]) == (1, 19)


# --- Connections: CRUD, ownership, dry run ----------------------------------------------------


async def test_crud_with_the_secret_masked(api, tenant):
    made = await connect(api, tenant, "hubspot", name="Main portal", score_property="hubspotscore")
    assert made["secret"] == "****" + HUBSPOT_SECRET[-4:]
    assert HUBSPOT_SECRET not in json.dumps(made)
    assert (made["name"], made["status_property"], made["status_mapping"]) == (
        "Main portal",
        "lifecyclestage",
        {},
    )
    one = f"{BASE}{made['id']}/"
    listed = (await api.get(BASE, headers=auth(tenant))).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]] and listed["total"] == 1
    patched = await api.patch(
        one, json={"status_mapping": {"customer": "active"}, "score_property": None},
        headers=auth(tenant),
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status_mapping"], patched.json()["score_property"]) == (
        {"customer": "active"},
        None,
    )
    put = await api.put(one, json={"provider": "twenty", "secret": "s" * 20}, headers=auth(tenant))
    assert put.status_code == 200, put.text
    assert put.json()["inbound_url"].endswith(f"/api/inbound/twenty/{made['id']}/")
    assert put.json()["name"] == "Twenty"
    assert (await api.delete(one, headers=auth(tenant))).status_code == 204
    assert (await api.get(one, headers=auth(tenant))).status_code == 404
    body = fixture("twenty_docs_person_created.json")
    url = put.json()["inbound_url"]
    assert (await api.post(url, content=body, headers=twenty(url, body))).status_code == 404


async def test_another_owner_cannot_read_change_delete_or_test_it(api, make_tenant):
    owner, other = make_tenant(), make_tenant()
    made = await connect(api, owner, "hubspot")
    one = f"{BASE}{made['id']}/"
    payload = {"payload": json.loads(fixture("hubspot_sdk_contact_creation.json"))}
    for resp in [
        await api.get(one, headers=auth(other)),
        await api.put(one, json={"provider": "hubspot", "secret": "x"}, headers=auth(other)),
        await api.patch(one, json={"name": "mine"}, headers=auth(other)),
        await api.delete(one, headers=auth(other)),
        await api.post(f"{one}test/", json=payload, headers=auth(other)),
    ]:
        assert resp.status_code == 404, resp.text
    assert (await api.get(BASE, headers=auth(other))).json()["total"] == 0
    assert (await api.get(one, headers=auth(owner))).json()["name"] == "HubSpot"


async def test_the_test_endpoint_shows_what_would_happen_and_writes_nothing(api, tenant, sessions):
    rule = await make_rule(api, tenant, "status_change", {"to_status": "prospect"})
    connection = await connect(api, tenant, "hubspot", status_mapping={"subscriber": "prospect"})
    before = await contacts(api, tenant)
    payload = json.loads(fixture("hubspot_docs_batch.json"))
    resp = await api.post(
        f"{BASE}{connection['id']}/test/", json={"payload": payload}, headers=auth(tenant)
    )
    assert resp.status_code == 200, resp.text
    change, creation = resp.json()["items"]
    assert change["contact"] == {
        "id": None,
        "would_be_created": True,
        "external_id": "1246965",
        "name": "HubSpot contact 1246965",
        "email": None,
        "status": "lead",
    }
    assert change["events"] == [
        {"kind": "status_change", "new_status": "prospect", "activity_type": None}
    ]
    assert change["rules_that_would_fire"] == [{"id": rule["id"], "name": rule["name"]}]
    assert (creation["contact"]["external_id"], creation["events"]) == ("1246978", [])
    # An unmapped stage is ignored, saying why, and touches no contact.
    resp = await api.post(
        f"{BASE}{connection['id']}/test/",
        json={"payload": [payload[0] | {"objectId": "c-1", "propertyValue": "evangelist"}]},
        headers=auth(tenant),
    )
    (item,) = resp.json()["items"]
    assert item["contact"] is None and "evangelist" in item["ignored"][0]
    assert await contacts(api, tenant) == before
    assert rows(sessions, connection) == [] and crm_events(sessions, tenant.owner_id) == []
    bad = await api.post(
        f"{BASE}{connection['id']}/test/", json={"payload": [{"eventId": 1}]}, headers=auth(tenant)
    )
    assert (
        bad.status_code == 422 and bad.json()["errors"][0]["field"] == "payload.0.subscriptionType"
    )


async def test_an_existing_contact_is_named_by_its_id_in_the_dry_run(api, tenant):
    connection = await connect(api, tenant, "standard", status_property="status")
    payload = {"type": "contact.updated", "data": {"id": "c-1", "status": "active"}}
    resp = await api.post(
        f"{BASE}{connection['id']}/test/", json={"payload": payload}, headers=auth(tenant)
    )
    (item,) = resp.json()["items"]
    assert (item["contact"]["id"], item["contact"]["would_be_created"]) == (
        tenant.contact_id,
        False,
    )
    assert item["events"] == [{"kind": "status_change", "new_status": "active",
                               "activity_type": None}]  # fmt: skip


async def test_bad_connections_are_422_naming_the_field(api, tenant):
    cases = [
        ({"provider": "salesforce", "secret": "x"}, "provider"),
        ({"provider": "hubspot", "secret": "x", "status_mapping": {"customer": "won"}},
         "status_mapping.customer"),
        ({"provider": "hubspot", "secret": "x", "activity_mapping": {"call": "phoned"}},
         "activity_mapping.call"),
        ({"provider": "hubspot", "secret": ""}, "secret"),
        ({"provider": "hubspot", "secret": "   "}, "secret"),
        ({"provider": "hubspot"}, "secret"),
        ({"provider": "hubspot", "secret": "x", "name": None}, "name"),
    ]  # fmt: skip
    for body, field in cases:
        resp = await api.post(BASE, json=body, headers=auth(tenant))
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"] == field, (body, resp.json())
    made = await connect(api, tenant, "hubspot")
    for body, field in [
        ({"status_mapping": {"customer": "won"}}, "status_mapping.customer"),
        ({"name": None}, "name"),
        ({"provider": "pipedrive"}, "provider"),
    ]:
        resp = await api.patch(f"{BASE}{made['id']}/", json=body, headers=auth(tenant))
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == field, resp.json()


async def test_an_older_status_change_arriving_later_is_ignored(api, tenant, sessions):
    """HubSpot does not promise order: a lifecycle change from a minute earlier, delivered
    after the newer one, neither undoes it nor fires rules backwards."""
    mapping = {"customer": "active", "opportunity": "prospect"}
    c = await connect(api, tenant, "hubspot", status_mapping=mapping)
    now = int(datetime.now(UTC).timestamp() * 1000)

    def ev(eid, value, at):
        return json.dumps(
            [
                {
                    "subscriptionType": "contact.propertyChange",
                    "eventId": eid,
                    "objectId": 55,
                    "portalId": 1,
                    "subscriptionId": 2,
                    "occurredAt": at,
                    "propertyName": "lifecyclestage",
                    "propertyValue": value,
                }
            ]
        ).encode()

    assert (await deliver(api, c, ev(2, "customer", now))).status_code == 202
    await applied(sessions, c, 1)
    earlier = ev(1, "opportunity", now - 60_000)  # happened a minute before the first
    assert (await deliver(api, c, earlier)).status_code == 202
    done = await applied(sessions, c, 2)
    assert "a newer change" in (done[-1].detail or ""), done[-1].detail
    status = (await contacts(api, tenant))["55"]["status"]
    assert status == "active"


OTHER_PROVIDERS = {
    "twenty": "twenty_source_person_created.json",
    "standard": "standard_spec_contact_created_full.json",
}


@pytest.mark.parametrize("provider", sorted(OTHER_PROVIDERS))
async def test_each_providers_wrong_secret_stale_replay_and_twenty_at_once(
    api, tenant, sessions, provider
):
    """Twenty and Standard Webhooks as HubSpot above: refused deliveries change nothing;
    twenty concurrent deliveries of one event make one contact and one stored event."""
    connection = await connect(api, tenant, provider)
    body = fixture(OTHER_PROVIDERS[provider])
    before = await contacts(api, tenant)
    wrong = await deliver(api, connection, body, secret=SECRETS[provider][:-4] + "XXXX")
    stale = await deliver(api, connection, body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert (wrong.status_code, stale.status_code) == (401, 401), (wrong.text, stale.text)
    assert await contacts(api, tenant) == before and rows(sessions, connection) == []

    answers = await asyncio.gather(*(deliver(api, connection, body) for _ in range(20)))
    assert sorted(r.status_code for r in answers) == [202] + [409] * 19, [
        r.text for r in answers if r.status_code not in (202, 409)
    ]
    stored = await applied(sessions, connection, 1)
    assert [r.status for r in stored] == ["processed"], [r.detail for r in stored]
    after = await contacts(api, tenant)
    assert len(after) == len(before) + 1
    replay = await deliver(api, connection, body)
    assert replay.status_code == 409 and await contacts(api, tenant) == after
    counted = (await api.get(f"{BASE}{connection['id']}/", headers=auth(tenant))).json()
    assert (counted["received"], counted["refused"]) == (1, 2 + 19 + 1)
