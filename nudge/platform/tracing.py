"""OpenTelemetry traces: off unless the standard ``OTEL_*`` variables turn them on.

On: ``OTEL_TRACES_EXPORTER=otlp`` (OTLP over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_ENDPOINT``,
default ``http://localhost:4318``) and/or ``console``; ``OTEL_SERVICE_NAME`` (default
``nudge``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and the exporter's other
variables are read by the SDK as usual. Off: ``OTEL_TRACES_EXPORTER`` unset or ``none``, or
``OTEL_SDK_DISABLED=true``.

When on, the API's requests get a server span, and Temporal's interceptor (on the client, so
also on every worker built on it) carries that trace through the workflow start into the
workflow and its activities. Spans leave in the background: a collector that isn't there
costs a logged warning, never a failed start.

Tests call ``configure(provider)`` with a provider of their own (an in-memory exporter)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

log = logging.getLogger("nudge.tracing")

DEFAULT_SERVICE_NAME = "nudge"
# Probes and scrapes are not worth a trace each (OTEL_PYTHON_FASTAPI_EXCLUDED_URLS overrides).
# Probes and metrics are noise; the calendar feed's path is its secret token.
DEFAULT_EXCLUDED_URLS = "/healthz,/readyz,/metrics,/api/calendar/"

_provider: TracerProvider | None = None
_configured = False


def exporter_names() -> list[str]:
    """The trace exporters the environment asks for; empty means tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "")
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    return [] if "none" in names else names


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        ).strip()
        if protocol != "http/protobuf":
            log.warning(
                "OTLP protocol %r is not installed, only http/protobuf (port 4318): "
                "traces are not exported; set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                protocol,
            )
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT; connects on export.
        return OTLPSpanExporter()
    log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored (otlp, console, none)", name)
    return None


def provider_from_env() -> TracerProvider | None:
    """A tracer provider exporting where the ``OTEL_*`` variables say, or None when off."""
    exporters = [e for e in map(_exporter, exporter_names()) if e is not None]
    if not exporters:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure(provider: TracerProvider | None) -> None:
    """Trace with this provider from now on (None: tracing off). Applies to clients connected
    and apps created after the call."""
    global _provider, _configured
    _provider, _configured = provider, True


def current_provider() -> TracerProvider | None:
    """The configured provider; on first use, the one the environment asks for (which also
    becomes OpenTelemetry's global provider, for any other instrumentation)."""
    if not _configured:
        provider = provider_from_env()
        if provider is not None:
            from opentelemetry import trace

            trace.set_tracer_provider(provider)
        configure(provider)
    return _provider


def client_interceptors() -> list[Interceptor]:
    """Interceptors for ``Client.connect``: Temporal's tracing interceptor when tracing is on
    (a worker built on the client uses it too), else none."""
    provider = current_provider()
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("nudge.temporal"))]


def instrument(app: FastAPI) -> None:
    """A server span per HTTP request (named by route template), when tracing is on."""
    provider = current_provider()
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = (
        None if os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") else DEFAULT_EXCLUDED_URLS
    )
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=excluded, exclude_spans=["receive", "send"]
    )


def shutdown() -> None:
    """Export the spans still queued. The CLI leaves through os._exit (no atexit hooks)."""
    if _provider is not None:
        _provider.shutdown()
