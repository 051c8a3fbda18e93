"""Prometheus metrics: Nudge's own counters (defined once, here) and the worker's endpoint.

Labels are always from a small fixed set (a task source's kind, an outcome, a route template),
never an owner, contact, rule or task id.

The worker serves everything on ONE port (`NUDGE_WORKER_METRICS_PORT`), `GET /metrics`:
prometheus-client's default registry (the `nudge_` counters), the worker-only gauges (open
sequences and cadences, counted at scrape time), then the Temporal SDK's own metrics. The SDK
exports through its runtime's Prometheus exporter, which must own a listening socket; it gets
a free port on 127.0.0.1 (never reachable from outside) and each scrape of ours appends its
text verbatim. Why not a MetricBuffer translated into a Collector: that re-implements the
exporter (histogram buckets, counter deltas, a buffer that drops updates unless drained often
enough), whereas the exporter's text is already the Prometheus format and needs no parsing.
The two parts never share a metric name (`nudge_` vs `temporal_`), so the concatenation is
one valid exposition. If the SDK exporter can't be read, the scrape still answers with
Nudge's metrics and a comment saying why.
"""

import logging
import socket
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from nudge.core.models import Contact, TaskBatch
from nudge.core.vocabulary import MANUAL_SOURCE, OVERDUE_SOURCE

log = logging.getLogger("nudge.metrics")

# What a scrape answers with: the classic text format, which both parts speak.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A task's `source` is "<kind>:<id or name>" or a fixed word; the label is the kind alone.
TASK_SOURCES = ("sequence", "rule", "cadence", "campaign", OVERDUE_SOURCE, MANUAL_SOURCE)

TASKS_CREATED = Counter(
    "nudge_tasks_created",
    "Tasks written (a row inserted and committed), by the kind of producer.",
    ["source"],
)
RULE_FIRINGS = Counter(
    "nudge_rule_firings",
    "Rule firings settled: created a task, skipped (why is on the firing), or cancelled.",
    ["outcome"],
)
REMINDERS = Counter(
    "nudge_reminders",
    "Task reminders settled: delivered, skipped (task done first) or failed (webhook gave up).",
    ["outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "nudge_webhook_deliveries",
    "Reminder webhook POST attempts (each retry counts), by outcome.",
    ["outcome"],
)
EVENTS_RECEIVED = Counter(
    "nudge_events_received",
    "CRM events received by the API; duplicate=true for a redelivered event id.",
    ["kind", "duplicate"],
)
EVENTS_UNSTARTED = Gauge(
    "nudge_events_unstarted",
    "Contacts whose stored events this API process is retrying to start (Temporal away).",
)
HTTP_REQUESTS = Counter(
    "nudge_http_requests",
    "API requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "nudge_http_request_duration_seconds",
    "API request latency by method and route template.",
    ["method", "route"],
)

# Every fixed label value starts at 0, so a rate() sees the first increment.
for _source in (*TASK_SOURCES, "other"):
    TASKS_CREATED.labels(_source)
for _outcome in ("created", "skipped", "cancelled"):
    RULE_FIRINGS.labels(_outcome)
for _outcome in ("delivered", "skipped", "failed"):
    REMINDERS.labels(_outcome)
for _outcome in ("success", "failure"):
    WEBHOOK_DELIVERIES.labels(_outcome)
for _kind in ("activity", "status_change"):
    for _dup in ("true", "false"):
        EVENTS_RECEIVED.labels(_kind, _dup)


def source_label(source: str) -> str:
    """`rule:7` → `rule`, `sequence:gentle` → `sequence`, `api` → `api`; anything unknown
    becomes `other`, so a new producer can never put an id into a label."""
    kind = source.split(":", 1)[0]
    return kind if kind in TASK_SOURCES else "other"


def task_created(source: str) -> None:
    """Count one task row; call only after the transaction that inserted it committed."""
    TASKS_CREATED.labels(source_label(source)).inc()


# --- the worker's endpoint -------------------------------------------------------------------


class OpenWorkCollector(Collector):
    """`nudge_open_sequences` and `nudge_open_cadences`, counted when scraped: two COUNTs,
    each answered from one covering index ((owner, kind, status), (owner, cadence)) without
    reading a table row; the index is read whole (no owner to seek by), which stays cheap at
    a scrape every 15-60 s. A database that doesn't answer leaves both out of that scrape."""

    SEQUENCES = ("nudge_open_sequences", "Follow-up sequences running now.")
    CADENCES = ("nudge_open_cadences", "Contacts with a recurring check-in cadence.")

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def describe(self) -> Iterator[Metric]:
        """The names, without querying (a registry asks when the collector is registered)."""
        yield GaugeMetricFamily(*self.SEQUENCES)
        yield GaugeMetricFamily(*self.CADENCES)

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions() as session:
                sequences = session.scalar(
                    select(func.count())
                    .select_from(TaskBatch)
                    .where(TaskBatch.kind == "sequence", TaskBatch.status == "running")
                )
                cadences = session.scalar(
                    select(func.count()).select_from(Contact).where(Contact.cadence.is_not(None))
                )
        except SQLAlchemyError as err:
            log.warning("open sequences/cadences not counted: %s", err)
            return
        yield GaugeMetricFamily(*self.SEQUENCES, value=sequences or 0)
        yield GaugeMetricFamily(*self.CADENCES, value=cadences or 0)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sdk_metrics_runtime(attempts: int = 5) -> tuple[Runtime, str]:
    """A Temporal runtime whose Prometheus exporter listens on a free 127.0.0.1 port; returns
    it and that address. Pass the runtime to `Client.connect` (a worker's metrics are its
    client's runtime's). Names follow Prometheus conventions: counters end in `_total`,
    durations are seconds with a `_seconds` suffix."""
    for attempt in range(attempts):
        address = f"127.0.0.1:{_free_loopback_port()}"
        config = PrometheusConfig(
            bind_address=address,
            counters_total_suffix=True,
            unit_suffix=True,
            durations_as_seconds=True,
        )
        try:
            return Runtime(telemetry=TelemetryConfig(metrics=config)), address
        except ValueError:  # "Address already in use": another process took the port first
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class _Registries:
    """Several registries as one, for `generate_latest`."""

    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterable[Metric]:
        for registry in self.registries:
            yield from registry.collect()


class MetricsServer(ThreadingHTTPServer):
    """`GET /metrics` on its own threads: a scrape (and its COUNTs) never blocks the worker's
    event loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], scraper: "WorkerMetrics") -> None:
        self.scraper = scraper
        super().__init__(address, _Handler)
        self.thread = threading.Thread(
            target=self.serve_forever, name="metrics", kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self.send_error(404, "metrics are at /metrics")
            return
        body = self.server.scraper.exposition()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per scrape is noise


class WorkerMetrics:
    """What the worker's endpoint answers: default registry + open-work gauges + SDK text."""

    def __init__(self, sessions: sessionmaker[Session] | None, sdk_address: str | None) -> None:
        self.local = CollectorRegistry(auto_describe=False)
        if sessions is not None:
            self.local.register(OpenWorkCollector(sessions))
        self.sdk_address = sdk_address

    def exposition(self) -> bytes:
        ours = generate_latest(_Registries(REGISTRY, self.local))
        return ours + self._sdk()

    def _sdk(self) -> bytes:
        if self.sdk_address is None:
            return b""
        try:
            with urllib.request.urlopen(f"http://{self.sdk_address}/metrics", timeout=5) as resp:
                text: bytes = resp.read()
        except OSError as err:
            return f"# Temporal SDK metrics unavailable: {err}\n".encode()
        return text if text.endswith(b"\n") or not text else text + b"\n"


def serve_worker_metrics(
    port: int,
    sessions: sessionmaker[Session] | None,
    sdk_address: str | None,
    host: str = "0.0.0.0",
) -> MetricsServer:
    """Start the worker's `/metrics` on host:port (0: any free port, see `.port`); stop it
    with `.close()`."""
    server = MetricsServer((host, port), WorkerMetrics(sessions, sdk_address))
    server.thread.start()
    return server
