"""Every failure becomes a 4xx/503 whose message says what to fix."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from nudge.errors import NudgeError


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "json_invalid":
            msg = (
                f"request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
            )
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; remove it"
        errors.append({"field": _where(tuple(err["loc"])), "message": msg})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": summary, "errors": errors}, status_code=422)


async def nudge_error(_: Request, exc: NudgeError) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"Temporal is unavailable ({exc.message}); is `nudge up` (or the "
            "Temporal server named by NUDGE_TEMPORAL_ADDRESS) running?"
        },
        status_code=503,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(NudgeError, nudge_error)  # type: ignore[arg-type]
    app.add_exception_handler(RPCError, temporal_error)  # type: ignore[arg-type]
