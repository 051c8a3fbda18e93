"""The whole CRM round trip on the real Temporal dev server: HubSpot says a contact became a
customer (its own webhook format and v3 signature) → the status changes → a status rule
fires → the task is written → task.created reaches a local receiver, signed the Standard
Webhooks way and verified there with the `standardwebhooks` package."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.api.test_integrations_api import HUBSPOT_SECRET, fixture, hubspot
from tests.receivers import EventReceiver
from tests.support import auth, poll

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    r = EventReceiver()
    yield r
    r.close()


def hubspot_batch(object_id: int, event_id: int, **change: object) -> bytes:
    """HubSpot's documented batch (tests/fixtures/providers), re-addressed to our contact."""
    [template] = [e for e in json.loads(fixture("hubspot_docs_batch.json")) if "propertyName" in e]
    now = int(datetime.now(UTC).timestamp() * 1000)
    event = template | {"objectId": object_id, "eventId": event_id, "occurredAt": now} | change
    return json.dumps([event]).encode()


async def test_a_hubspot_customer_becomes_a_task_delivered_to_the_crm(dev_api, tenant, receiver):
    api, headers = dev_api, auth(tenant)
    sub = await api.post(
        "/api/webhooks/subscriptions/",
        json={"url": receiver.url, "event_types": ["task.created"]},
        headers=headers,
    )
    assert sub.status_code == 201, sub.text
    receiver.secret = sub.json()["secret"]
    rule = await api.post(
        "/api/task-automation/rules/",
        json={"name": "New customer", "trigger_type": "status_change",
              "trigger_config": {"from_status": "*", "to_status": "active"},
              "task_title_template": "Onboard {{ contact_name }}", "task_priority": "high"},
        headers=headers,
    )  # fmt: skip
    assert rule.status_code == 201, rule.text
    connection = await api.post(
        "/api/integrations/",
        json={"provider": "hubspot", "name": "HubSpot", "secret": HUBSPOT_SECRET,
              "status_mapping": {"customer": "active"}},
        headers=headers,
    )  # fmt: skip
    assert connection.status_code == 201, connection.text
    url = connection.json()["inbound_url"]

    body = hubspot_batch(9001, 77, propertyValue="customer")
    sent = await api.post(url, content=body, headers=hubspot(url, body))
    assert sent.status_code == 202, sent.text

    events = await poll(receiver.received, lambda es: len(es) == 1, seconds=30)
    [event] = events
    assert event["type"] == "task.created"
    assert event["data"]["title"] == "Onboard HubSpot contact 9001"
    assert event["data"]["priority"] == "high"
    assert receiver.bad_signatures == 0
    contacts = (await api.get("/api/contacts/", headers=headers)).json()["items"]
    [contact] = [c for c in contacts if c["external_id"] == "9001"]
    assert contact["status"] == "active" and event["data"]["contact_id"] == contact["id"]
    # HubSpot delivering the same batch again changes nothing and sends nothing more.
    again = await api.post(url, content=body, headers=hubspot(url, body))
    assert again.status_code == 409, again.text
    tasks = (await api.get(f"/api/tasks/?contact_id={contact['id']}", headers=headers)).json()
    assert tasks["total"] == 1
    assert len(receiver.events()) == 1
