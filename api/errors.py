"""Every failure becomes a 4xx (or 502/503 for Temporal) whose message says what to fix."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.service import RPCError, RPCStatusCode

from nudge.errors import NudgeError
from nudge.temporal import unreachable


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
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
    return JSONResponse({"detail": summary, "errors": errors}, status_code=422)


async def nudge_error(_: Request, exc: NudgeError) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


def _unavailable(why: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"Temporal is unavailable ({why}); is `nudge up` (or the Temporal "
            "server named by NUDGE_TEMPORAL_ADDRESS) running? Sending the same request again "
            "is safe."
        },
        status_code=503,
    )


async def connect_error(request: Request, exc: RuntimeError) -> JSONResponse:
    if unreachable(exc):
        return _unavailable("cannot connect")
    raise exc


async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
    if exc.status in UNREACHABLE:
        return _unavailable(exc.message)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return JSONResponse({"detail": f"Temporal refused it: {exc.message}"}, status_code=422)
    return JSONResponse(
        {"detail": f"Temporal refused the request: {exc.status.name}: {exc.message}"},
        status_code=502,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(NudgeError, nudge_error)  # type: ignore[arg-type]
    app.add_exception_handler(RPCError, temporal_error)  # type: ignore[arg-type]
    app.add_exception_handler(RuntimeError, connect_error)  # type: ignore[arg-type]
