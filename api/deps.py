"""Request dependencies: database session, Temporal client, the calling owner.

The ones that only read the app's state are `async def`: FastAPI runs a plain `def`
dependency in its thread pool, a hand-off to a thread and back for every one of them on
every request."""

from collections.abc import Iterator
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.ratelimit import client_key, limiter, retry_message
from nudge.core.models import Owner
from nudge.platform.owners import owner_for_key
from nudge.platform.settings import Settings
from nudge.reporting.stats import RunningCounts
from nudge.rules.events import Unstarted

bearer = HTTPBearer(auto_error=False, description="An owner's API key (`nudge create-owner`).")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_session(
    sessions: Annotated[sessionmaker[Session], Depends(get_sessions)],
) -> Iterator[Session]:
    with sessions() as session:
        yield session


def app_client(request: Request) -> Client:
    """The app's Temporal client, outside a dependency (a background task's)."""
    return request.app.state.temporal


def app_unstarted(request: Request) -> Unstarted:
    return request.app.state.unstarted


async def get_client(request: Request) -> Client:
    return app_client(request)


async def get_unstarted(request: Request) -> Unstarted:
    return app_unstarted(request)


async def get_running(request: Request) -> RunningCounts:
    return request.app.state.running


def key_owner(sessions: sessionmaker[Session], key: str) -> Owner | None:
    """The key's owner, looked up in a short session of its own (the API and the page)."""
    with sessions() as session:
        return owner_for_key(session, key)


async def get_owner(
    request: Request,
    sessions: Annotated[sessionmaker[Session], Depends(get_sessions)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Owner:
    """The key's owner. Its own short session, in a worker thread: a connection held for
    the whole request would starve the pool when async routes open their own sessions."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send `Authorization: Bearer <key>` (create one with "
            "`nudge create-owner NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # A client over the limit isn't told whether this key is right: that is the guess.
    failures, client = limiter(request), client_key(request)
    wait = failures.retry_after(client)
    if wait is not None:
        raise HTTPException(429, retry_message(wait), headers={"Retry-After": str(wait)})
    owner = await to_thread.run_sync(key_owner, sessions, credentials.credentials)
    if owner is None:
        failures.failed(client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return owner


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SessionDep = Annotated[Session, Depends(get_session)]
ClientDep = Annotated[Client, Depends(get_client)]
UnstartedDep = Annotated[Unstarted, Depends(get_unstarted)]
RunningDep = Annotated[RunningCounts, Depends(get_running)]
OwnerDep = Annotated[Owner, Depends(get_owner)]
