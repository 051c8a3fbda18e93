"""Liveness of the two things Nudge depends on."""

from datetime import timedelta

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import ClientDep, SessionsDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    database: str
    temporal: str


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or Temporal is down."}},
)
async def healthz(sessions: SessionsDep, client: ClientDep) -> JSONResponse:
    """200 when the database answers a query and the Temporal frontend answers a health check."""

    def ping() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        await to_thread.run_sync(ping)
        database = "ok"
    except Exception as err:  # any driver error means "down" here
        database = f"unreachable: {err.__class__.__name__}"
    try:
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(),
            timeout=timedelta(seconds=3),
        )
        temporal = "ok"
    except Exception as err:
        temporal = f"unreachable: {err.__class__.__name__}"
    body = Health(database=database, temporal=temporal)
    ok = database == temporal == "ok"
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
