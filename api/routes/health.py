"""Liveness and readiness: is the API process up, and can it do its work."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.boundary import JsonBoundaryRoute
from api.deps import ClientDep, SessionsDep, SettingsDep
from nudge.platform.health import check_database, check_temporal

router = APIRouter(tags=["health"], route_class=JsonBoundaryRoute)


class Health(BaseModel):
    database: str = Field(description='"ok", or why not; "not checked" on the liveness probe.')
    temporal: str = Field(description='"ok", or why not; "not checked" on the liveness probe.')


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: 200 while the process serves requests. Cheap: it checks nothing else, so a
    database or Temporal outage never gets the API restarted (see /readyz for those)."""
    return Health(database="not checked", temporal="not checked")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or Temporal is down."}},
)
async def readyz(sessions: SessionsDep, client: ClientDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: 200 when the database answers a query and the Temporal frontend answers,
    else 503 saying which is down (the same checks as `nudge doctor`)."""
    database = await check_database(sessions)
    temporal = await check_temporal(client, settings.temporal_target)
    body = Health(
        database="ok" if database.ok else database.detail,
        temporal="ok" if temporal.ok else temporal.detail,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database.ok and temporal.ok else 503)
