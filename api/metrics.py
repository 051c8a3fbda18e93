"""The API's Prometheus metrics: `GET /metrics` and a count and latency per request, labelled
by the route's template (`/api/tasks/{task_id}/`), never the raw path, so no id becomes a
label. A request no route matched is `route="unmatched"`; scrapes of /metrics aren't counted."""

import time

from fastapi import FastAPI, Response
from prometheus_client import REGISTRY, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nudge.platform.metrics import CONTENT_TYPE, HTTP_DURATION, HTTP_REQUESTS

PATH = "/metrics"


class RequestMetrics:
    """Plain ASGI middleware: it sees the status line and, once the router has run, the
    matched route in `scope["route"]` (set by Starlette's router in the same scope dict)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == PATH:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering

        async def send_seeing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_seeing_status)
        finally:
            # The template without convertors: {rule_id}, not {rule_id:int}.
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestMetrics)
    app.add_api_route(PATH, metrics, methods=["GET"], include_in_schema=False)
