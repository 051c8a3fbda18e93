"""`nudge doctor`: everything Nudge needs, checked in turn and explained.

Each check answers ✓ or ✗ with what it saw, and a failed one names the fix. The database and
Temporal checks are the readiness probe's own (nudge.platform.health), so they never disagree."""

from collections.abc import Awaitable, Callable

import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from nudge.core.models import Owner
from nudge.periodic.schedules import PERIODIC
from nudge.platform.health import (
    RPC_TIMEOUT,
    Check,
    check_database,
    check_temporal,
    temporal_down,
    why,
)
from nudge.platform.migrate import alembic_config
from nudge.platform.settings import Settings
from nudge.platform.temporal import SEARCH_ATTRIBUTES, not_found

PAGE = "/automations/task-scheduling/sign-in"


def check_settings(settings: Settings) -> Check:
    where = settings.sqlalchemy_url.split("@")[-1]  # never print a password
    return Check(
        "settings",
        True,
        f"database {where}, Temporal {settings.temporal_target}, "
        f"namespace {settings.namespace!r}, task queue {settings.task_queue!r}",
    )


def check_migrated(engine: Engine, url: str) -> Check:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as err:
        return Check("schema", False, f"can't read its revision ({why(err)})", "nudge migrate")
    if current != head:
        return Check("schema", False, f"at {current or 'nothing'}, head is {head}", "nudge migrate")
    return Check("schema", True, f"migrated to head ({head})")


def check_owners(sessions: sessionmaker[Session]) -> Check:
    try:
        with sessions() as session:
            owners = session.scalar(select(func.count()).select_from(Owner)) or 0
    except Exception as err:
        return Check("API keys", False, f"can't count owners ({why(err)})", "nudge migrate")
    if owners == 0:
        return Check("API keys", False, "no owner has a key yet", "nudge create-owner NAME")
    return Check("API keys", True, f"{owners} owner(s) with a key")


async def check_namespace(client: Client) -> Check:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=RPC_TIMEOUT
        )
    except RPCError as err:
        if not_found(err):
            return Check(
                "namespace",
                False,
                f"{client.namespace!r} does not exist",
                f"temporal operator namespace create {client.namespace}",
            )
        raise
    return Check("namespace", True, f"{client.namespace!r} exists")


async def check_search_attributes(client: Client) -> Check:
    found = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace), timeout=RPC_TIMEOUT
    )
    missing = [k.name for k in SEARCH_ATTRIBUTES if k.name not in found.custom_attributes]
    if missing:
        return Check(
            "search attributes",
            False,
            f"missing {', '.join(missing)}",
            "start `nudge worker` once (it registers them), or `temporal operator "
            "search-attribute create --name NudgeOwnerId --type Keyword` for each",
        )
    return Check("search attributes", True, ", ".join(k.name for k in SEARCH_ATTRIBUTES))


async def check_schedules(client: Client) -> Check:
    missing, paused = [], []
    for p in PERIODIC:
        try:
            desc = await client.get_schedule_handle(p.schedule_id).describe()
        except RPCError as err:
            if not_found(err):
                missing.append(p.schedule_id)
                continue
            raise
        if desc.schedule.state.paused:
            paused.append(p.schedule_id)
    if missing or paused:
        said = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"paused {', '.join(paused)}" if paused else "",
            )
            if part
        )
        fix = "nudge schedules sync" + (
            f"; unpause with `temporal schedule toggle --unpause --schedule-id {paused[0]}`"
            if paused
            else ""
        )
        return Check("periodic schedules", False, said, fix)
    return Check("periodic schedules", True, f"all {len(PERIODIC)} present and running")


async def check_worker(client: Client, task_queue: str) -> Check:
    pollers = {}
    for kind, name in (
        (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ):
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            timeout=RPC_TIMEOUT,
        )
        pollers[name] = len(resp.pollers)
    if not all(pollers.values()):
        return Check(
            "worker",
            False,
            f"nobody polls task queue {task_queue!r} "
            f"({pollers['workflow']} workflow, {pollers['activity']} activity pollers)",
            "start `nudge worker` (or `nudge up`) with the same NUDGE_TASK_QUEUE",
        )
    return Check("worker", True, f"{pollers['workflow']} poller(s) on {task_queue!r}")


async def check_api(base_url: str) -> Check:
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            ready = await http.get("/readyz")
            page = await http.get(PAGE)
    except httpx.HTTPError as err:
        return Check(
            "API and web page",
            False,
            f"{base_url} unreachable ({why(err)})",
            "start `nudge api` (or `nudge up`); NUDGE_API_HOST/NUDGE_API_PORT",
        )
    if ready.status_code != 200 or page.status_code != 200:
        return Check(
            "API and web page",
            False,
            f"/readyz {ready.status_code}, {PAGE} {page.status_code}: {ready.text[:200]}",
            "see the API's log; /readyz says which dependency is down",
        )
    return Check("API and web page", True, f"{base_url}/readyz and {PAGE} answer")


async def diagnose(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    connect: Callable[[], Awaitable[Client]],
    *,
    api_url: str | None,
) -> list[Check]:
    """Run every check; later Temporal checks are skipped (said so) when it is unreachable."""
    checks = [check_settings(settings), await check_database(sessions)]
    if checks[-1].ok:
        checks += [check_migrated(engine, settings.sqlalchemy_url), check_owners(sessions)]
    try:
        client = await connect()
    except Exception as err:
        checks.append(temporal_down(settings.temporal_target, err))
        return checks + ([await check_api(api_url)] if api_url else [])
    checks.append(await check_temporal(client, settings.temporal_target))
    if checks[-1].ok:
        checks.append(await check_namespace(client))
        if checks[-1].ok:
            checks += [
                await check_search_attributes(client),
                await _schedules_or_unsupported(client),
                await check_worker(client, settings.task_queue),
            ]
    if api_url:
        checks.append(await check_api(api_url))
    return checks


async def _schedules_or_unsupported(client: Client) -> Check:
    try:
        return await check_schedules(client)
    except RPCError as err:
        return Check(
            "periodic schedules",
            False,
            f"this server has no schedules ({err.message})",
            "use the Temporal dev server or a cluster (the test server has none)",
        )
