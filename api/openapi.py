"""The OpenAPI document as the API really answers: every error status an operation can give,
each with the one error body the API sends (`Error`), in place of FastAPI's validation schema.

Which statuses an operation can answer follows from what it depends on: the API key (401, and
429 once a client has sent too many wrong ones), the database (503), Temporal (502, 503, and
422 when Temporal finds the request invalid), a body (413, 422), parameters (422), a path
parameter (404). Statuses a handler raises itself (404, 409) are named on its route.
"""

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.boundary import MAX_BODY_BYTES, MAX_DEPTH
from api.deps import get_client, get_owner, get_sessions
from api.errors import Error

ERROR_REF: Final = {"$ref": "#/components/schemas/Error"}
# FastAPI's own 422 body, which the API never sends.
REPLACED: Final = ("HTTPValidationError", "ValidationError")
# Count Temporal's figures as null rather than fail when Temporal can't answer.
TEMPORAL_OPTIONAL: Final = {"/api/task-automation/stats/"}

RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before sending the same request again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE: Final = {
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: `Bearer` (an API key), or on a CRM's "
        'inbound URL `Signature realm="<provider>"` (the provider\'s own signature).',
        "required": True,
        "schema": {"type": "string"},
    }
}

DESCRIPTIONS: Final = {
    401: "No API key, or an unknown one: send `Authorization: Bearer <key>` "
    "(`nudge create-owner NAME` makes a key).",
    404: "Not found (or another owner's).",
    413: f"The request body is over {MAX_BODY_BYTES} bytes (1 MiB).",
    422: "Refused input: `errors` names each field and what to fix. The body as a whole is "
    "`body`: not UTF-8, not JSON (NaN and Infinity are not), nested deeper than "
    f"{MAX_DEPTH} levels; a string holding a lone UTF-16 surrogate is named by its field.",
    429: "Too many requests with a wrong API key from this client: wait `Retry-After` seconds.",
    502: "Temporal refused the request; the detail says why.",
    503: "The database is unavailable: nothing was changed, send the same request again after "
    "`Retry-After` seconds.",
}
TEMPORAL_422: Final = " Also when Temporal refuses the request as invalid."
TEMPORAL_503: Final = (
    "Temporal or the database is unavailable: send the same request again after "
    "`Retry-After` seconds; nothing is done twice."
)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _statuses(route: RouteContext) -> dict[int, str]:
    """The error statuses this route can answer, with what each means here."""
    calls = set(_calls(route.dependant))
    statuses: dict[int, str] = {}
    if not (route.path_format or "").startswith("/api/"):
        calls = set()  # the probes answer for themselves (/readyz: 503 with Health)
    temporal = get_client in calls and route.path_format not in TEMPORAL_OPTIONAL
    if route.dependant.path_params:
        statuses[404] = DESCRIPTIONS[404]
    if route.body_field is not None:
        statuses[413] = DESCRIPTIONS[413]
    if route.body_field is not None or route.dependant.query_params or route.dependant.path_params:
        statuses[422] = DESCRIPTIONS[422]
    if temporal:
        statuses[422] = DESCRIPTIONS[422] + TEMPORAL_422
        statuses[502] = DESCRIPTIONS[502]
    if get_owner in calls:
        statuses[401] = DESCRIPTIONS[401]
        statuses[429] = DESCRIPTIONS[429]
    if get_sessions in calls:
        statuses[503] = TEMPORAL_503 if temporal else DESCRIPTIONS[503]
    return statuses


def _error_response(response: dict[str, Any], status: int, description: str) -> None:
    """Give an error response the Error body and its headers, keeping what the route said."""
    if response.get("description") in (None, "", HTTPStatus(status).phrase, "Validation Error"):
        response["description"] = description
    content = response.setdefault("content", {})
    media = content.setdefault("application/json", {})
    schema = media.get("schema", {})
    if not schema or schema.get("$ref", "").rsplit("/", 1)[-1] in REPLACED:
        media["schema"] = ERROR_REF
    if media["schema"] != ERROR_REF:
        return  # the route's own body (e.g. /readyz's Health)
    if status == 401:
        response["headers"] = WWW_AUTHENTICATE
    if status in (429, 503):
        response["headers"] = RETRY_AFTER


def _schemas(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in REPLACED:
        schemas.pop(name, None)
    error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error.pop("$defs", {}))
    schemas["Error"] = error


# The boundary refuses NUL in every string and field name (api.boundary); patterns the models
# set already leave it out.
NO_NUL: Final = "^[^\\x00]*$"
VALUES: Final = frozenset({"default", "example", "examples", "enum", "const"})


def _no_nul(schema: Any) -> None:
    """Say so in every string schema and free-form object that doesn't yet."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NO_NUL
    free = schema.get("additionalProperties", False) is not False
    if schema.get("type") == "object" and free and "propertyNames" not in schema:
        schema["propertyNames"] = {"pattern": NO_NUL}
    for key, value in schema.items():
        if key not in VALUES:
            _no_nul(value)


def truthful(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """`document` (FastAPI's) with every operation's real error answers."""
    _schemas(document)
    _no_nul(document["components"]["schemas"])
    for path in document["paths"].values():
        for operation in path.values():
            _no_nul([p["schema"] for p in operation.get("parameters", [])])
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        statuses = _statuses(route)
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            responses = operation["responses"]
            for status in statuses:
                responses.setdefault(str(status), {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    status = int(code)
                    fallback = DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
                    _error_response(response, status, statuses.get(status, fallback))
            operation["responses"] = dict(sorted(responses.items()))
    return document


def install(app: FastAPI) -> None:
    """`app.openapi()` (and /openapi.json) serve the truthful document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(app, build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it
