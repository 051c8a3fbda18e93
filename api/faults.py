"""The last answer: what escaped every exception handler still gets a proper response.

A database that can't be reached (refused, dropped, a full pool, SQLite locked past its busy
timeout) is a JSON 503 with `Retry-After`: nothing was half-written (every write is one
transaction) and sending the same request again is safe. Anything else is a JSON 500 that
points at the server log. Answering here, rather than in Starlette's last-resort handler,
keeps the client's keep-alive connection open: that handler re-raises after answering, and the
server then drops the connection.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.pages import error_page, is_page
from nudge.platform.db import unavailable

log = logging.getLogger("nudge.api")

RETRY_AFTER_SECONDS = 5


def answer(request: Request, exc: Exception) -> Response:
    if unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        status, detail = (
            503,
            (
                "the database is unavailable right now; nothing was changed by this request and "
                f"sending it again is safe (retry after {RETRY_AFTER_SECONDS} s)"
            ),
        )
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, detail, headers = 500, "internal error; the server log has the details", {}
    if is_page(request):
        response: Response = error_page(request, status, detail)
        response.headers.update(headers)
        return response
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class LastAnswer:
    """Plain ASGI middleware around the app and our other middleware: only what no handler
    answered reaches it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_seeing_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_seeing_start)
        except Exception as exc:
            if started:  # half an answer is out: nothing better than closing the connection
                raise
            await answer(Request(scope), exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Call after the middleware it should wrap; only the security headers go outside it."""
    app.add_middleware(LastAnswer)
