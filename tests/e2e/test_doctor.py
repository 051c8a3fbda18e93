"""`nudge doctor` on the real dev server: a namespace Nudge never set up fails with the fix
for each missing piece (search attributes, Schedules, a worker), and passes once each fix is
done; a paused Schedule is named."""

import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from api.embedded import serve_api
from nudge.periodic.schedules import PERIODIC, sync_schedules
from nudge.platform.db import make_engine
from nudge.platform.doctor import diagnose
from nudge.platform.health import Check
from nudge.platform.settings import Settings
from nudge.platform.temporal import DATA_CONVERTER, ensure_search_attributes
from tests.support import poll
from worker import build_worker

pytestmark = pytest.mark.slow


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_doctor_names_each_fix_then_passes(dev_env, database_url, sessions, executor, tenant):
    namespace, queue = f"doctor-{uuid.uuid4().hex[:8]}", f"tq-{uuid.uuid4()}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = Client(dev_env.client.service_client, namespace=namespace,
                    data_converter=DATA_CONVERTER)  # fmt: skip
    target = dev_env.client.service_client.config.target_host
    settings = Settings(database_url=database_url, temporal_address=target,
                        namespace=namespace, task_queue=queue)  # fmt: skip
    engine = make_engine(database_url)

    async def run(api_url: str | None = None) -> dict[str, Check]:
        async def connect() -> Client:
            return client

        return by_name(await diagnose(settings, engine, sessions, connect, api_url=api_url))

    # A new namespace takes a moment to be known everywhere in the server.
    first = await poll(run, lambda c: c["namespace"].ok, seconds=30)
    assert [n for n, c in first.items() if c.ok] == [
        "settings",
        "database",
        "schema",
        "API keys",
        "Temporal",
        "namespace",
    ]
    assert "NudgeOwnerId" in first["search attributes"].detail
    assert "nudge worker" in first["search attributes"].fix
    assert first["periodic schedules"].fix.startswith("nudge schedules sync")
    assert "auto-schedule-overdue-tasks" in first["periodic schedules"].detail
    assert "nudge worker" in first["worker"].fix
    assert "✗ worker" in first["worker"].line() and "fix: start" in first["worker"].line()

    await ensure_search_attributes(client)
    await sync_schedules(client, queue, "UTC")
    worker = build_worker(client, sessions, task_queue=queue, executor=executor)
    async with worker, serve_api(client, sessions, queue) as http:
        done = await poll(lambda: run(str(http.base_url)), lambda c: all(x.ok for x in c.values()),
                          seconds=30)  # fmt: skip
        assert [c.line() for c in done.values() if not c.ok] == []
        assert len(done) == 10

        await client.get_schedule_handle(PERIODIC[0].schedule_id).pause(note="doctor test")
        paused = await run(str(http.base_url))
        assert not paused["periodic schedules"].ok
        assert paused["periodic schedules"].detail == f"paused {PERIODIC[0].schedule_id}"
        assert "--unpause" in paused["periodic schedules"].fix
    for p in PERIODIC:
        await client.get_schedule_handle(p.schedule_id).delete()
    engine.dispose()
