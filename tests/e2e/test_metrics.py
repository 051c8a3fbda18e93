"""Prometheus metrics after real work: a sequence, rule firings (created, skipped, cancelled),
a webhook reminder that fails once, a manual task completed before its reminder, a redelivered
event. The counters move by exactly what happened, the API's /metrics labels requests by route
template and carries no id, and the worker's endpoint serves the Temporal SDK's metrics and
Nudge's own on one port.

The test process hosts the API and the worker, so both sets of counters are in one default
registry here. Other tests' workflows may still run on the shared time-skipping server while
this one moves its clock, so the per-producer counters are also compared with what the
database gained in the same window: every row counted once, none missed."""

import re
import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.embedded import free_port as any_free_port
from nudge.core.models import Contact, RuleFiring, Task, TaskBatch
from nudge.platform import metrics
from nudge.platform.temporal import DATA_CONVERTER
from tests.e2e.test_reminder_webhook import Receiver, set_webhook
from tests.e2e.test_rules_time_skipping import EMAIL_OPEN_RULE, RULES, make_rule, opened
from tests.support import auth, poll
from worker import build_worker


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counters() -> Counter[tuple[str, ...]]:
    """Every nudge_ sample of the default registry, keyed by name and label values."""
    seen: Counter[tuple[str, ...]] = Counter()
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name.startswith("nudge_") and "le" not in sample.labels:
                seen[(sample.name, *sorted(sample.labels.values()))] = sample.value
    return seen


def rows(sessions: sessionmaker[Session]) -> Counter[tuple[str, ...]]:
    """What the database holds, in the counters' terms (the whole database: every owner)."""
    out: Counter[tuple[str, ...]] = Counter()
    with sessions() as session:
        for source, n in session.execute(select(Task.source, func.count()).group_by(Task.source)):
            out[("task", source.split(":", 1)[0])] += n
        for state, n in session.execute(
            select(RuleFiring.state, func.count()).group_by(RuleFiring.state)
        ):
            out[("firing", state)] += n
        for status, n in session.execute(
            select(Task.reminder_status, func.count()).group_by(Task.reminder_status)
        ):
            out[("reminder", status)] += n
    return out


def delta(after: Counter[tuple[str, ...]], before: Counter[tuple[str, ...]], *key: str) -> float:
    return after[key] - before[key]


async def test_counters_move_by_exactly_what_happened(api, time_env, make_tenant, sessions):
    tenant = make_tenant(name="Grace Hopper")
    headers = auth(tenant)
    receiver = Receiver(fail=1)  # the reminder's webhook: one 500, then 204
    try:
        await set_webhook(api, tenant, receiver.url)
        before, db_before = counters(), rows(sessions)

        # A sequence: four tasks over six days.
        seq = await api.post(
            "/api/task-automation/schedule-sequence/",
            json={"contact_id": tenant.contact_id, "sequence_type": "aggressive",
                  "start_delay_hours": 0},
            headers=headers,
        )  # fmt: skip
        assert seq.status_code == 201, seq.text
        # Three rules on one event: one writes a task (with a reminder), one is deactivated
        # before its delay is over (skipped), one is deleted (its firing cancelled).
        kept = await make_rule(
            api, tenant, EMAIL_OPEN_RULE | {"delay_hours": 2, "reminder_offset_hours": 1}
        )
        off = await make_rule(api, tenant, EMAIL_OPEN_RULE | {"name": "off", "delay_hours": 2})
        gone = await make_rule(api, tenant, EMAIL_OPEN_RULE | {"name": "gone", "delay_hours": 2})
        first = await opened(api, time_env, tenant, "evt-metrics")
        again = await opened(api, time_env, tenant, "evt-metrics")  # a redelivery
        assert (first.status_code, again.status_code) == (201, 200)
        assert len(first.json()["firings"]) == 3
        patched = await api.patch(
            f"{RULES}{off['id']}/", json={"is_active": False}, headers=headers
        )
        assert patched.status_code == 200, patched.text
        assert (await api.delete(f"{RULES}{gone['id']}/", headers=headers)).status_code == 204
        # A task made by hand with a reminder, completed before it: the reminder is skipped.
        now = await time_env.get_current_time()
        manual = await api.post(
            "/api/tasks/",
            json={"contact_id": tenant.contact_id, "title": "Call back",
                  "due_at": (now + timedelta(days=2)).isoformat(), "reminder_offset_hours": 1},
            headers=headers,
        )  # fmt: skip
        assert manual.status_code == 201, manual.text
        done = await api.post(f"/api/tasks/{manual.json()['id']}/complete/", headers=headers)
        assert done.json()["reminder_status"] == "skipped"

        async def mine() -> list[dict]:
            r = await api.get(f"/api/tasks/?contact_id={tenant.contact_id}", headers=headers)
            return r.json()["items"]

        def rule_task(items: list[dict]) -> dict:
            return next((t for t in items if t["title"].endswith("engaged with email")), {})

        await time_env.sleep(timedelta(hours=1, minutes=1))
        items = await poll(mine, lambda t: rule_task(t).get("reminder_status") == "delivered", 30)
        assert rule_task(items).get("reminder_status") == "delivered", items
        await time_env.sleep(timedelta(days=7))
        items = await poll(mine, lambda t: len(t) == 6, 30)
        batch = await api.get(
            f"/api/task-automation/batches/{seq.json()['batch_id']}/", headers=headers
        )
        assert batch.json()["status"] == "completed"

        async def firing_states() -> list[str]:
            out = []
            for rule in (kept, off):
                r = await api.get(f"{RULES}{rule['id']}/firings/", headers=headers)
                out += [f["state"] for f in r.json()["items"]]
            return out

        assert await poll(firing_states, lambda s: "scheduled" not in s) == ["created", "skipped"]
    finally:
        receiver.close()

    # What this test did, from the database, scoped to its owner.
    with sessions() as session:
        own = Counter(
            s.split(":", 1)[0]
            for s in session.scalars(select(Task.source).where(Task.owner_id == tenant.owner_id))
        )
        own_firings = Counter(
            session.scalars(select(RuleFiring.state).where(RuleFiring.owner_id == tenant.owner_id))
        )
    assert own == {"sequence": 4, "rule": 1, "api": 1}
    assert own_firings == {"created": 1, "skipped": 1, "cancelled": 1}
    assert len(receiver.seen) == 2 and len(receiver.accepted) == 1

    after, db_after = counters(), rows(sessions)
    # Every row the database gained is counted once, by the kind of its producer, and ours
    # are among them (when this test runs alone, they are all of them).
    for source in metrics.TASK_SOURCES:
        gained = delta(db_after, db_before, "task", source)
        assert delta(after, before, "nudge_tasks_created_total", source) == gained, source
        assert gained >= own[source]
    for outcome in ("created", "skipped", "cancelled"):
        gained = delta(db_after, db_before, "firing", outcome)
        assert delta(after, before, "nudge_rule_firings_total", outcome) == gained, outcome
        assert gained >= own_firings[outcome]
    for outcome in ("delivered", "skipped", "failed"):
        gained = delta(db_after, db_before, "reminder", outcome)
        assert delta(after, before, "nudge_reminders_total", outcome) == gained, outcome
    assert delta(db_after, db_before, "reminder", "delivered") >= 1
    assert delta(db_after, db_before, "reminder", "skipped") >= 1
    # Only this test deletes rules, posts events and has a webhook in this window: exact.
    assert delta(after, before, "nudge_rule_firings_total", "cancelled") == 1
    assert delta(after, before, "nudge_events_received_total", "activity", "false") == 1
    assert delta(after, before, "nudge_events_received_total", "activity", "true") == 1
    assert delta(after, before, "nudge_webhook_deliveries_total", "failure") == 1
    assert delta(after, before, "nudge_webhook_deliveries_total", "success") == 1

    # The API's requests, by route template.
    task_id = rule_task(items)["id"]
    route = "/api/tasks/{task_id}/"
    before_get = value("nudge_http_requests_total", method="GET", route=route, status="200")
    before_n = value("nudge_http_request_duration_seconds_count", method="GET", route=route)
    before_404 = value("nudge_http_requests_total", method="GET", route="unmatched", status="404")
    for _ in range(3):
        assert (await api.get(f"/api/tasks/{task_id}/", headers=headers)).status_code == 200
    assert (await api.get(f"/api/no-such-thing/{task_id}/")).status_code == 404
    scrape = await api.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert value("nudge_http_requests_total", method="GET", route=route, status="200") == (
        before_get + 3
    )
    assert (
        value("nudge_http_request_duration_seconds_count", method="GET", route=route)
        == before_n + 3
    )
    assert (
        value("nudge_http_requests_total", method="GET", route="unmatched", status="404")
        == before_404 + 1
    )
    await api.get("/metrics")
    assert not any(
        s.labels.get("route") == "/metrics" for f in REGISTRY.collect() for s in f.samples
    ), "scrapes are not counted"
    assert "/metrics" not in (await api.get("/openapi.json")).json()["paths"]

    # No label carries an id: route templates only, fixed words elsewhere.
    text = scrape.text
    ids = {tenant.owner_id, tenant.contact_id, task_id, kept["id"], off["id"], gone["id"],
           seq.json()["batch_id"], manual.json()["id"]}  # fmt: skip
    assert f"/api/tasks/{task_id}/" not in text and "/api/no-such-thing/" not in text
    assert f'route="{route}"' in text and 'route="/api/task-automation/rules/{rule_id}/"' in text
    families = list(text_string_to_metric_families(text))
    assert {"nudge_tasks_created", "nudge_http_requests", "nudge_events_received"} <= {
        f.name for f in families
    }
    for family in families:
        if not family.name.startswith("nudge_"):
            continue
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label == "le":
                    continue
                if label == "status":
                    assert re.fullmatch(r"[1-5]\d\d", label_value), sample
                    continue
                numbers = {int(n) for n in re.findall(r"\d+", label_value)}
                assert not numbers & ids, sample
                assert not numbers, f"a digit in a label: {sample}"


@pytest.fixture
def free_port() -> int:
    return any_free_port()


async def test_worker_endpoint_serves_sdk_and_nudge_metrics(
    time_env, sessions, executor, make_tenant, free_port
):
    """One port: the SDK's exporter on its internal loopback port, appended to Nudge's."""
    runtime, sdk_address = metrics.sdk_metrics_runtime()
    assert sdk_address.startswith("127.0.0.1:")
    client = await Client.connect(
        time_env.client.service_client.config.target_host,
        namespace=time_env.client.namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
    # A worker on a queue of its own: polling is enough for the SDK to report; no workflow
    # runs here, so nothing is left behind for the shared time-skipping server.
    worker = build_worker(client, sessions, task_queue=f"tq-{uuid.uuid4()}", executor=executor)
    tenant = make_tenant()
    server = metrics.serve_worker_metrics(free_port, sessions, sdk_address, host="127.0.0.1")
    try:
        assert server.port == free_port
        async with worker, httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port}") as http:

            async def scrape() -> str:
                resp = await http.get("/metrics")
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
                return resp.text

            text = await poll(scrape, lambda t: "temporal_num_pollers" in t)
            assert "temporal_num_pollers" in text and "temporal_request_total" in text
            assert 'nudge_tasks_created_total{source="sequence"}' in text
            assert (await http.get("/nope")).status_code == 404

            def gauges(text: str) -> dict[str, float]:
                found = {}
                for family in text_string_to_metric_families(text):  # parses: one valid text
                    if family.name in ("nudge_open_sequences", "nudge_open_cadences"):
                        found[family.name] = family.samples[0].value
                return found

            # The gauges are counted when scraped: a running sequence and a cadence appear.
            was = gauges(text)
            with sessions() as session, session.begin():
                contact = session.get(Contact, tenant.contact_id)
                assert contact is not None
                contact.cadence = "weekly"
                batch = TaskBatch(owner_id=tenant.owner_id, kind="sequence", name="m",
                                  contact_id=contact.id, workflow_id=f"m-{uuid.uuid4()}",
                                  planned=1)  # fmt: skip
                session.add(batch)
            now = gauges(await scrape())
            assert now == {
                "nudge_open_sequences": was["nudge_open_sequences"] + 1,
                "nudge_open_cadences": was["nudge_open_cadences"] + 1,
            }
            with sessions() as session, session.begin():
                running = session.scalar(
                    select(func.count()).select_from(TaskBatch)
                    .where(TaskBatch.kind == "sequence", TaskBatch.status == "running")
                )  # fmt: skip
                assert running == now["nudge_open_sequences"]
                session.execute(
                    update(TaskBatch).where(TaskBatch.id == batch.id).values(status="stopped")
                )
                session.execute(
                    update(Contact).where(Contact.id == tenant.contact_id).values(cadence=None)
                )
    finally:
        server.close()


def test_worker_endpoint_without_the_sdk_still_answers(free_port, sessions):
    """The SDK's exporter unreachable: Nudge's metrics still go out, with a comment why."""
    server = metrics.serve_worker_metrics(free_port, None, "127.0.0.1:1", host="127.0.0.1")
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.close()
    assert "# Temporal SDK metrics unavailable" in text
    assert "nudge_rule_firings_total" in text and "nudge_open_sequences" not in text


def test_source_label_never_carries_an_id():
    assert [
        metrics.source_label(s)
        for s in ("sequence:gentle", "rule:7", "cadence:weekly", "campaign:12", "overdue", "api",
                  "test", "rule")
    ] == ["sequence", "rule", "cadence", "campaign", "overdue", "api", "other", "rule"]  # fmt: skip
