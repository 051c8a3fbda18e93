"""Temporal plumbing: the client, Nudge's search attributes, one schedule upsert, and how a
Temporal answer reads (not found, unreachable)."""

import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from nudge.platform.settings import Settings
from nudge.platform.tracing import client_interceptors

OWNER_ID = SearchAttributeKey.for_keyword("NudgeOwnerId")
CONTACT_ID = SearchAttributeKey.for_keyword("NudgeContactId")
KIND = SearchAttributeKey.for_keyword("NudgeKind")
SEARCH_ATTRIBUTES = (OWNER_ID, CONTACT_ID, KIND)

DATA_CONVERTER = pydantic_data_converter


def search_attributes(owner_id: int, contact_id: int, kind: str) -> TypedSearchAttributes:
    """What the Temporal UI filters Nudge's workflows by (kind: sequence, rule, …)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(OWNER_ID, str(owner_id)),
            SearchAttributePair(CONTACT_ID, str(contact_id)),
            SearchAttributePair(KIND, kind),
        ]
    )


def dev_server_search_attribute_args() -> list[str]:
    """`temporal server start-dev` flags that register our search attributes."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


async def ensure_search_attributes(client: Client) -> None:
    """Register Nudge's keyword search attributes; already present is fine."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in SEARCH_ATTRIBUTES
                },
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def connect(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    """`runtime`: the worker's, when it exports the SDK's metrics (nudge.platform.metrics)."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.namespace,
        data_converter=DATA_CONVERTER,
        interceptors=client_interceptors(),  # tracing, when OTEL_* turns it on
        lazy=lazy,
        runtime=runtime,
    )


async def upsert_schedule(client: Client, schedule_id: str, wanted: Schedule) -> None:
    """Create the schedule, or replace an existing one with `wanted`. Safe to run any number
    of times, from any number of processes at once (a lost create race becomes an update)."""
    try:
        await client.create_schedule(schedule_id, wanted)
    except (ScheduleAlreadyRunningError, RPCError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.ALREADY_EXISTS:
            raise

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(schedule_id).update(replace)


async def delete_schedule(client: Client, schedule_id: str) -> None:
    """Delete it; one that doesn't exist (or a server without schedules) is fine."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as err:
        if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
            raise


# A start's anchor is read on this machine: Temporal's clock is the machine's (both keep NTP
# time), so reading it costs no round trip. A time-skipping test server keeps a clock of its
# own; its tests register it here for their client.
_SERVER_CLOCKS: "weakref.WeakKeyDictionary[Client, Callable[[], Awaitable[datetime]]]" = (
    weakref.WeakKeyDictionary()
)


def use_server_clock(client: Client, now: Callable[[], Awaitable[datetime]]) -> None:
    """Read `client`'s server time from `now` (a time-skipping server's get_current_time)."""
    _SERVER_CLOCKS[client] = now


async def server_now(client: Client) -> datetime:
    """Now, as the Temporal server behind `client` counts it."""
    clock = _SERVER_CLOCKS.get(client)
    return await clock() if clock is not None else datetime.now(UTC)


def not_found(err: RPCError) -> bool:
    """The workflow (or schedule) isn't there: it never started, or has ended."""
    return err.status == RPCStatusCode.NOT_FOUND


def unreachable(err: BaseException) -> bool:
    """A lazy client that can't reach the server raises a plain RuntimeError, not RPCError."""
    return isinstance(err, RuntimeError) and str(err).startswith("Failed client connect")


# What a request to a server that is down, restarting or overloaded fails with.
AWAY_STATUSES = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


def away(err: BaseException) -> bool:
    """Temporal couldn't be reached or didn't answer: the same call may succeed later."""
    return unreachable(err) or (isinstance(err, RPCError) and err.status in AWAY_STATUSES)


async def started_once(start: Awaitable[object]) -> bool:
    """Await a start whose workflow id dedupes it: False when that id had already started
    (a redelivered event, a repeated sweep), which is what the id is for."""
    try:
        await start
    except WorkflowAlreadyStartedError:
        return False
    return True


async def delivered(signal: Awaitable[None]) -> bool:
    """Await a signal: False when its workflow isn't running (it ended, or never started)."""
    try:
        await signal
    except RPCError as err:
        if not not_found(err):
            raise
        return False
    return True
