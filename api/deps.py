"""Request dependencies: database session, Temporal client, the calling owner.

The ones that only read the app's state are `async def`: FastAPI runs a plain `def`
dependency in its thread pool, a hand-off to a thread and back for every one of them on
every request."""

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from time import monotonic
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.ratelimit import client_key, limiter, retry_message
from nudge.core.models import Owner
from nudge.platform.owners import hash_key, owner_for_key
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


@dataclass(frozen=True)
class Caller:
    """The owner an API key belongs to, as routes need them: their id and name, which never
    change (settings that do, the webhook and the enrollment limit, are read from the row
    where they are used)."""

    id: int
    name: str


class Callers:
    """Callers by key hash, each kept `max_age` seconds (at most `size` of them): a request
    whose key was seen lately skips the look-up's thread hop, session and round trip."""

    def __init__(self, max_age: float = 60.0, size: int = 4096) -> None:
        self.max_age, self.size = max_age, size
        self._known: OrderedDict[str, tuple[float, Caller]] = OrderedDict()

    def get(self, key: str) -> Caller | None:
        known = self._known.get(hash_key(key))
        if known is None or monotonic() - known[0] > self.max_age:
            return None
        return known[1]

    def keep(self, key: str, caller: Caller) -> Caller:
        digest = hash_key(key)
        self._known[digest] = (monotonic(), caller)
        self._known.move_to_end(digest)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        return caller


async def get_owner(
    request: Request,
    sessions: Annotated[sessionmaker[Session], Depends(get_sessions)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The key's owner: kept from a recent request, or looked up in a short session of its
    own, in a worker thread (a connection held for the whole request would starve the pool
    when async routes open their own sessions)."""
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
    callers: Callers = request.app.state.callers
    if (caller := callers.get(credentials.credentials)) is not None:
        return caller
    owner = await to_thread.run_sync(key_owner, sessions, credentials.credentials)
    if owner is None:
        failures.failed(client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return callers.keep(credentials.credentials, Caller(owner.id, owner.name))


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SessionDep = Annotated[Session, Depends(get_session)]
ClientDep = Annotated[Client, Depends(get_client)]
UnstartedDep = Annotated[Unstarted, Depends(get_unstarted)]
RunningDep = Annotated[RunningCounts, Depends(get_running)]
OwnerDep = Annotated[Caller, Depends(get_owner)]
