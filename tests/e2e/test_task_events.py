"""Task events out, through the outbox, to a real local receiver that verifies every POST
with the `standardwebhooks` package: each event once and in order per task, retried through
a failing receiver, dead-lettered past the retry horizon and replayed, and made up by the
sweep when the process that wrote it never kicked its delivery."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from nudge.integrations import outbox
from nudge.integrations.starts import DeliveryTiming
from nudge.periodic.payloads import SweepPage
from tests.receivers import EventReceiver
from tests.support import auth, poll

SUBSCRIPTIONS = "/api/webhooks/subscriptions/"
ALL = [
    "task.created",
    "task.updated",
    "task.completed",
    "task.cancelled",
    "task.overdue",
    "task.reminder_due",
]


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    r = EventReceiver()
    yield r
    r.close()


async def subscribe(api, tenant, receiver: EventReceiver, types: list[str] = ALL) -> dict:  # type: ignore[no-untyped-def]
    resp = await api.post(
        SUBSCRIPTIONS, json={"url": receiver.url, "event_types": types}, headers=auth(tenant)
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["secret"].startswith("whsec_")
    receiver.secret = body["secret"]
    return body


async def new_task(api, tenant, title: str = "Call Ada") -> dict:  # type: ignore[no-untyped-def]
    due = datetime.now(UTC) + timedelta(days=2)
    resp = await api.post(
        "/api/tasks/",
        json={"contact_id": tenant.contact_id, "title": title, "due_at": due.isoformat()},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def deliveries(api, tenant, sub_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await api.get(f"{SUBSCRIPTIONS}{sub_id}/deliveries/", headers=auth(tenant))
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def test_each_change_is_delivered_once_signed_and_in_order(api, tenant, receiver):
    sub = await subscribe(api, tenant, receiver)
    a = await new_task(api, tenant, "A")
    changed = await api.patch(
        f"/api/tasks/{a['id']}/", json={"priority": "urgent"}, headers=auth(tenant)
    )
    assert changed.status_code == 200 and changed.json()["priority"] == "urgent"
    assert (
        await api.post(f"/api/tasks/{a['id']}/complete/", headers=auth(tenant))
    ).status_code == 200
    b = await new_task(api, tenant, "B")
    assert (
        await api.post(f"/api/tasks/{b['id']}/cancel/", headers=auth(tenant))
    ).status_code == 200

    events = await poll(receiver.received, lambda es: len(es) == 5)
    assert receiver.of_task(a["id"]) == ["task.created", "task.updated", "task.completed"]
    assert receiver.of_task(b["id"]) == ["task.created", "task.cancelled"]
    assert receiver.bad_signatures == 0
    # The body is the task as GET /api/tasks/{id}/ shows it, at the time of the change.
    last = (await api.get(f"/api/tasks/{a['id']}/", headers=auth(tenant))).json()
    completed = next(e for e in events if e["type"] == "task.completed")
    assert completed["data"] == last
    updated = next(e for e in events if e["type"] == "task.updated")
    assert (updated["data"]["status"], updated["data"]["priority"]) == ("open", "urgent")
    rows = await poll(
        lambda: deliveries(api, tenant, sub["id"]),
        lambda ds: all(d["status"] == "delivered" for d in ds),
    )
    assert len(rows) == 5 and {d["attempts"] for d in rows} == {1}
    assert receiver.posts == 5  # nothing sent twice

    listed = (await api.get(SUBSCRIPTIONS, headers=auth(tenant))).json()
    assert listed[0]["health"] == {"pending": 0, "retrying": 0, "delivered": 5, "dead": 0}
    assert "secret" not in listed[0]


async def test_only_the_subscribed_types_and_only_your_tasks(api, tenant, make_tenant, receiver):
    await subscribe(api, tenant, receiver, ["task.completed"])
    other = make_tenant()
    theirs = await new_task(api, other, "Theirs")
    await api.post(f"/api/tasks/{theirs['id']}/complete/", headers=auth(other))
    mine = await new_task(api, tenant, "Mine")
    await api.post(f"/api/tasks/{mine['id']}/complete/", headers=auth(tenant))
    events = await poll(receiver.received, lambda es: len(es) >= 1)
    await asyncio.sleep(0.5)
    assert [(e["type"], e["data"]["id"]) for e in receiver.events()] == [
        ("task.completed", mine["id"])
    ]
    assert events[0]["data"]["title"] == "Mine"


async def test_a_receiver_failing_five_times_gets_one_delivery(api, time_env, tenant, receiver):
    sub = await subscribe(api, tenant, receiver, ["task.created"])
    receiver.fail = 5
    task = await new_task(api, tenant)
    await time_env.sleep(timedelta(minutes=15))  # backoff 10 s, 20 s, … past the fifth
    events = await poll(receiver.received, lambda es: len(es) == 1)
    assert [e["data"]["id"] for e in events] == [task["id"]]
    assert receiver.posts == 6
    [row] = await poll(
        lambda: deliveries(api, tenant, sub["id"]), lambda ds: ds[0]["status"] == "delivered"
    )
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 6, 204)


async def test_order_per_task_holds_under_concurrent_changes(api, tenant, receiver):
    await subscribe(api, tenant, receiver)
    made = [await new_task(api, tenant, f"T{i}") for i in range(10)]

    async def change(task: dict) -> None:
        url = f"/api/tasks/{task['id']}/"
        await asyncio.gather(
            api.patch(url, json={"priority": "high"}, headers=auth(tenant)),
            api.post(f"{url}complete/", headers=auth(tenant)),
        )

    await asyncio.gather(*(change(t) for t in made))
    await poll(
        receiver.received,
        lambda es: sum(e["type"] == "task.completed" for e in es) == 10,
        seconds=30,
    )
    for task in made:
        seen = receiver.of_task(task["id"])
        # The PATCH lost the race (409: only an open task changes) or came before the completion.
        assert seen in (
            ["task.created", "task.completed"],
            ["task.created", "task.updated", "task.completed"],
        ), seen
    for event in receiver.events():
        expected = "completed" if event["type"] == "task.completed" else "open"
        assert event["data"]["status"] == expected


async def test_dead_past_the_horizon_then_replayed_once_in_order(api, time_env, tenant, receiver):
    """Receiver down for three days: task.created is dead (every attempt recorded). Events
    written after that (an update, the completion) wait behind it, even with the receiver
    back; replaying just the last one sends all three, in order, once."""
    types = ["task.created", "task.updated", "task.completed"]
    sub = await subscribe(api, tenant, receiver, types)
    receiver.down = True
    task = await new_task(api, tenant)
    await time_env.sleep(timedelta(days=3, hours=2))  # the retry horizon is three days
    [row] = await poll(
        lambda: deliveries(api, tenant, sub["id"]), lambda ds: ds[0]["status"] == "dead"
    )
    assert row["status"] == "dead" and receiver.events() == []
    assert row["attempts"] == receiver.posts > 40  # each attempt recorded, to the last

    receiver.down = False
    url = f"/api/tasks/{task['id']}/"
    assert (
        await api.patch(url, json={"priority": "high"}, headers=auth(tenant))
    ).status_code == 200
    assert (await api.post(f"{url}complete/", headers=auth(tenant))).status_code == 200
    await time_env.sleep(timedelta(minutes=30))
    await asyncio.sleep(0.5)
    assert receiver.events() == []  # held behind the dead one, not sent out of order
    held = await deliveries(api, tenant, sub["id"])
    assert sorted(d["status"] for d in held) == ["dead", "pending", "pending"]

    last = max(held, key=lambda d: d["event_id"])
    replayed = await api.post(
        f"{SUBSCRIPTIONS}{sub['id']}/deliveries/{last['id']}/replay/", headers=auth(tenant)
    )
    assert replayed.status_code == 200, replayed.text
    await poll(receiver.received, lambda es: len(es) == 3)
    assert receiver.of_task(task["id"]) == types
    rows = await poll(
        lambda: deliveries(api, tenant, sub["id"]),
        lambda ds: {d["status"] for d in ds} == {"delivered"},
    )
    assert {d["status"] for d in rows} == {"delivered"}
    now = datetime.now(UTC)
    window = {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    replay = f"{SUBSCRIPTIONS}{sub['id']}/deliveries/replay/"
    again = await api.post(replay, json=window, headers=auth(tenant))
    assert again.json() == {"replayed": 0}  # only dead ones by default
    redo = await api.post(replay, json=window | {"statuses": ["delivered"]}, headers=auth(tenant))
    assert redo.json() == {"replayed": 3}  # on purpose: sent again, same webhook-ids
    await poll(lambda: deliveries(api, tenant, sub["id"]),
               lambda ds: {d["status"] for d in ds} == {"delivered"})  # fmt: skip
    assert len(receiver.events()) == 3 and receiver.posts > len(receiver.events())


async def test_a_commit_whose_kick_never_ran_is_delivered_by_the_sweep_once(
    api, time_env, time_worker, sessions, tenant, receiver
):
    """The process that wrote the task died before kicking its delivery (no kicker at all
    here): the event is in the outbox, and the periodic sweep delivers it, once."""
    sub = await subscribe(api, tenant, receiver, ["task.created"])
    kicker = outbox._kicker
    outbox.set_kicker(None)
    try:
        task = await new_task(api, tenant)
    finally:
        outbox.set_kicker(kicker)
    await asyncio.sleep(0.5)
    assert receiver.posts == 0  # nothing started it
    from activities.periodic import kick_pending

    page = SweepPage(now=datetime.now(UTC) + timedelta(minutes=2))
    # This owner's only (other tests' deliveries share the database, not this worker).
    queue, timing = time_worker.task_queue, DeliveryTiming()
    swept = await kick_pending(time_env.client, sessions, queue, timing, page, tenant.owner_id)
    assert swept.acted == 1
    await poll(receiver.received, lambda es: len(es) == 1)
    # The receiver answers before the delivery's row is marked: wait for the mark.
    rows = await poll(
        lambda: deliveries(api, tenant, sub["id"]), lambda ds: ds[0]["status"] == "delivered"
    )
    assert [d["status"] for d in rows] == ["delivered"]
    again = await kick_pending(time_env.client, sessions, queue, timing, page, tenant.owner_id)
    assert again.acted == 0  # delivered: nothing left to send
    await asyncio.sleep(0.5)
    assert [e["data"]["id"] for e in receiver.events()] == [task["id"]]
    assert receiver.posts == 1


async def test_subscriptions_are_private_and_checked(api, tenant, make_tenant, receiver):
    sub = await subscribe(api, tenant, receiver)
    other = make_tenant()
    for method, path in (
        ("GET", f"{SUBSCRIPTIONS}{sub['id']}/"),
        ("DELETE", f"{SUBSCRIPTIONS}{sub['id']}/"),
        ("GET", f"{SUBSCRIPTIONS}{sub['id']}/deliveries/"),
        ("POST", f"{SUBSCRIPTIONS}{sub['id']}/deliveries/1/replay/"),
    ):
        resp = await api.request(method, path, headers=auth(other))
        assert resp.status_code == 404, (method, path, resp.text)
    bad = [
        ({"url": receiver.url, "event_types": ["task.exploded"]}, "event_types.0"),
        ({"url": receiver.url, "event_types": []}, "event_types"),
        ({"url": "ftp://example.com/x", "event_types": ["task.created"]}, "url"),
        ({"url": receiver.url, "event_types": ["task.created", "task.created"]}, "event_types"),
    ]
    for body, field in bad:
        resp = await api.post(SUBSCRIPTIONS, json=body, headers=auth(tenant))
        assert resp.status_code == 422, resp.text
        assert field in [e["field"] for e in resp.json()["errors"]], resp.json()
    assert len((await api.get(SUBSCRIPTIONS, headers=auth(tenant))).json()) == 1
    at = "2026-12-01T00:00:00+00:00"
    empty = await api.post(
        f"{SUBSCRIPTIONS}{sub['id']}/deliveries/replay/",
        json={"since": at, "until": at},
        headers=auth(tenant),
    )
    assert empty.status_code == 422 and "since must be before until" in empty.json()["detail"]
    gone = await api.delete(f"{SUBSCRIPTIONS}{sub['id']}/", headers=auth(tenant))
    assert gone.status_code == 204
    assert (await api.get(SUBSCRIPTIONS, headers=auth(tenant))).json() == []
