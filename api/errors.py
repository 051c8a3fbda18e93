"""Every failure becomes a 4xx (or 502/503 for Temporal) whose message says what to fix."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import JsonDict, SkipJsonSchema
from temporalio.service import RPCError, RPCStatusCode

from api.faults import RETRY_AFTER_SECONDS
from api.pages import error_page, is_page
from nudge.core.errors import NudgeError
from nudge.platform.temporal import away, unreachable


class FieldError(BaseModel):
    field: str = Field(
        description="Where: a body field as a dotted path (`steps.0.order`), a parameter's "
        "name, or `body` for the body as a whole."
    )
    message: str = Field(description="What is wrong with it and how to fix it.")


def _no_default(schema: JsonDict) -> None:
    schema.pop("default")


class Error(BaseModel):
    """Every error answer of the API (4xx, 5xx) has this body."""

    detail: str = Field(description="What went wrong and what to do about it.")
    # Left out, never null: only a refused request names its fields.
    errors: list[FieldError] | SkipJsonSchema[None] = Field(
        None,
        description="Each refused field with its problem; on 422 answers to bad input.",
        json_schema_extra=_no_default,
    )


def _answer(
    request: Request, status: int, body: dict, headers: dict[str, str] | None = None
) -> Response:
    """JSON for the API; the same message as an HTML page for the web page."""
    if is_page(request):
        page = error_page(request, status, body["detail"])
        page.headers.update(headers or {})
        return page
    return JSONResponse(body, status_code=status, headers=headers)


RETRY_LATER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = []
    for err in exc.errors():
        msg, where = err["msg"], _where(tuple(err["loc"]))
        if err["type"] == "json_invalid":
            reason = err.get("ctx", {}).get("error", "parse error")
            msg, where = f"request body is not valid JSON ({reason})", "body"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; remove it"
        errors.append({"field": where, "message": msg})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _answer(request, 422, {"detail": summary, "errors": errors})


async def nudge_error(request: Request, exc: NudgeError) -> Response:
    headers = RETRY_LATER if exc.status_code == 503 else None
    return _answer(request, exc.status_code, {"detail": exc.message}, headers)


def _unavailable(request: Request, why: str) -> Response:
    return _answer(
        request,
        503,
        {
            "detail": f"Temporal is unavailable ({why}); is `nudge up` (or the Temporal "
            "server named by NUDGE_TEMPORAL_ADDRESS) running? Sending the same request again "
            "is safe."
        },
        RETRY_LATER,
    )


async def connect_error(request: Request, exc: RuntimeError) -> Response:
    if unreachable(exc):
        return _unavailable(request, "cannot connect")
    raise exc


async def temporal_error(request: Request, exc: RPCError) -> Response:
    if away(exc):
        return _unavailable(request, exc.message)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return _answer(request, 422, {"detail": f"Temporal refused it: {exc.message}"})
    detail = f"Temporal refused the request: {exc.status.name}: {exc.message}"
    return _answer(request, 502, {"detail": detail})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
    app.add_exception_handler(NudgeError, nudge_error)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
    app.add_exception_handler(RPCError, temporal_error)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
    app.add_exception_handler(RuntimeError, connect_error)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
