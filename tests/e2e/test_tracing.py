"""Traces: one HTTP request that schedules a sequence is one trace, from the API's server span
through the workflow start and the workflow into its activities; and tracing is off (no
interceptor, no instrumentation) unless the OTEL_* variables turn it on."""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from api.embedded import serve_api
from nudge.platform import tracing
from tests.support import auth, poll
from worker import build_worker

ROUTE = "/api/task-automation/schedule-sequence/"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory; as it was afterwards."""
    before = tracing.current_provider()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield exporter
    tracing.configure(before)
    provider.shutdown()


def _named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_one_trace_from_the_request_to_the_activities(
    spans, time_env, sessions, executor, tenant
):
    # The session's client and worker were built without tracing: this test's own client
    # (the time-skipping server's, plus the interceptor), worker and API.
    config = time_env.client.config()
    config["interceptors"] = [*config["interceptors"], *tracing.client_interceptors()]
    client = Client(**config)
    worker = build_worker(client, sessions, task_queue=f"tq-{uuid.uuid4()}", executor=executor)
    async with worker, serve_api(client, sessions, worker.task_queue) as http:
        resp = await http.post(
            ROUTE,
            json={
                "contact_id": tenant.contact_id,
                "sequence_type": "aggressive",
                "start_delay_hours": 0,
            },
            headers=auth(tenant),
        )
        assert resp.status_code == 201, resp.text
        workflow_id = resp.json()["workflow_id"]
        # Step 1 of 4 falls due within the first day (the server's clock trails the API's),
        # step 2 a day after it.
        await time_env.sleep(timedelta(days=1))

        async def tasks() -> int:
            listing = await http.get(
                f"/api/tasks/?contact_id={tenant.contact_id}", headers=auth(tenant)
            )
            return listing.json()["total"]

        assert await poll(tasks, lambda n: n == 1) == 1
        finished = await poll(
            lambda: _finished(spans), lambda s: bool(_named(s, "RunActivity:create_task"))
        )
        # Leave nothing for the shared time-skipping server to wait on once this worker stops.
        await client.get_workflow_handle(workflow_id).terminate("test over")

    (request,) = [s for s in finished if s.name == f"POST {ROUTE}"]
    assert request.kind == SpanKind.SERVER
    (start,) = _named(finished, "StartWorkflow:SequenceWorkflow")
    (run,) = _named(finished, "RunWorkflow:SequenceWorkflow")
    activities = _named(finished, "RunActivity:")
    assert {s.name for s in activities} >= {
        "RunActivity:begin_sequence",
        "RunActivity:create_task",
    }
    trace_id = request.context.trace_id
    for span in (start, run, *activities):
        assert span.context.trace_id == trace_id, span.name
    # The start is the request's child; the workflow hangs off the start.
    assert start.parent is not None and start.parent.span_id == request.context.span_id
    assert run.parent is not None and run.parent.span_id == start.context.span_id
    # Every Temporal span of the run is in it (the task listings polled above are their own).
    temporal = [s for s in finished if not s.name.startswith(("GET ", "POST "))]
    assert {s.context.trace_id for s in temporal} == {trace_id}


async def _finished(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    return exporter.get_finished_spans()


def test_off_by_default(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.provider_from_env() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.provider_from_env() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.provider_from_env() is None


def test_on_with_otel_variables_and_no_collector(monkeypatch):
    """otlp to a port where nothing listens: built, and spans are dropped in the background,
    never an error at start."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "nudge-worker")
    provider = tracing.provider_from_env()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "nudge-worker"
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    provider.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    unnamed = tracing.provider_from_env()
    assert unnamed is not None and unnamed.resource.attributes["service.name"] == "nudge"
    unnamed.shutdown()


def test_interceptor_only_when_tracing_is_on():
    before = tracing.current_provider()
    try:
        tracing.configure(None)
        assert tracing.client_interceptors() == []
        tracing.configure(TracerProvider())
        (interceptor,) = tracing.client_interceptors()
        assert isinstance(interceptor, TracingInterceptor)
    finally:
        tracing.configure(before)
