"""What a request crosses before a handler sees it: HEAD answered as GET, an `Allow` header that
names every method of the path, and the JSON boundary every API body passes before pydantic.

The boundary refuses, with the usual error body, what would otherwise fail late or cost too
much: a body over 1 MiB (413), and (422, naming the field) bytes that are not UTF-8, JSON nested
deeper than 64 levels, NaN or Infinity (not JSON), and strings holding NUL or a lone UTF-16
surrogate (`"\\u0000"`, `"\\ud800"`: PostgreSQL can't store the one, no database or JSON
encoder the other). Each body is parsed once, here.
"""

import email.message
import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nudge.core.errors import NudgeError

MAX_BODY_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 64
# Only an escape can put NUL (JSON text can't hold it raw) or a surrogate (strict UTF-8 decoding
# refuses encoded ones) into a string: bodies without one skip the walk over every string.
BAD_ESCAPE: Final = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class BodyTooLarge(NudgeError):
    status_code = 413

    def __init__(self) -> None:
        super().__init__(
            f"the request body is over {MAX_BODY_BYTES} bytes (1 MiB); send less per request"
        )


def _refused(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *loc), "msg": message, "input": None}]
    )


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON; send a number or null")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return f"contains NUL (\\u0000 at character {text.index(chr(0))}); remove it"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return (
            f"contains a lone UTF-16 surrogate (\\u{ord(text[err.start]):04x} at character "
            f"{err.start}); send valid Unicode text"
        )
    return None


def _walk(document: Any, strings: bool) -> None:
    """Refuse nesting deeper than MAX_DEPTH and (when asked) strings with NUL or a lone
    surrogate."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = strings and _text_problem(value)
            if problem:
                raise _refused(path, problem)
            continue
        if not isinstance(value, dict | list):
            continue
        if len(path) >= MAX_DEPTH:
            raise _refused((), f"the body nests deeper than {MAX_DEPTH} levels; flatten it")
        if isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
            continue
        for key, item in value.items():
            problem = strings and _text_problem(key)
            if problem:
                raise _refused(path, f"a field name {problem}")
            stack.append((item, (*path, key)))


def parse_json(body: bytes) -> Any:
    """The body as JSON, or RequestValidationError saying what to fix."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _refused(
            (),
            f"the body is not valid UTF-8 (byte 0x{body[err.start]:02x} at {err.start}); "
            "send JSON encoded as UTF-8",
        ) from None
    try:
        document = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as err:
        # FastAPI's own shape for it, which api.errors words as "not valid JSON (…)".
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", err.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": err.msg},
                }
            ]
        ) from None
    except RecursionError:
        raise _refused((), f"the body nests deeper than {MAX_DEPTH} levels; flatten it") from None
    except ValueError as err:
        raise _refused((), str(err)) from None
    deep = text.count("[") + text.count("{") > MAX_DEPTH
    strings = BAD_ESCAPE.search(text) is not None
    if deep or strings:
        _walk(document, strings)
    return document


def _is_json(request: Request) -> bool:
    """Read as FastAPI reads it: application/json or application/*+json."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def capped_body(request: Request) -> bytes:
    """The raw body, refused (413) past MAX_BODY_BYTES whatever Content-Length claims."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _CheckedRequest(Request):
    """A request whose body has crossed the boundary; FastAPI reads it from here."""

    def __init__(self, request: Request, body: bytes, document: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._checked_body = body
        self._document = document

    async def body(self) -> bytes:
        return self._checked_body

    async def json(self) -> Any:
        return self._document


class JsonBoundaryRoute(APIRoute):
    """The route class of every JSON API router: its body crosses the boundary first.
    Raised here, outside FastAPI's body reading, the refusals reach the app's error handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def bounded(request: Request) -> Response:
            body = await capped_body(request)
            document = parse_json(body) if body and _is_json(request) else None
            return await handler(_CheckedRequest(request, body, document))

        return bounded


def _allowed(scope: Scope) -> str | None:
    """Every method some route of this path answers (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(scope["app"].routes):
        if route.methods and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods)) or None


class Methods:
    """HEAD is GET without the body, wherever GET is; a 405 names all the path's methods."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = _allowed(scope)
                if allow:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, answer)


def install(app: FastAPI) -> None:
    app.add_middleware(Methods)
