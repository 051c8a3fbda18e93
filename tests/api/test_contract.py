"""The OpenAPI document describes the API: schemathesis, every check and the stateful phase,
against the real app over real HTTP with a real owner's key. Zero failures.

Each finding it reported once has a named test in test_openapi_truth.py or test_bad_input.py.
Bounded to a few minutes on two cores: a fixed seed and a few examples per operation, so a
run in CI is the same run every time (change SEED locally to explore further).
"""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.ratelimit import FailureLimiter
from nudge.platform.settings import Settings
from worker import build_worker

SEED = int(os.environ.get("NUDGE_CONTRACT_SEED", "15"))
MAX_EXAMPLES = int(os.environ.get("NUDGE_CONTRACT_EXAMPLES", "10"))
BUDGET_SECONDS = 240
PORTS = range(18600, 18700)
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture
async def base_url(
    dev_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    executor: ThreadPoolExecutor,
    dev_worker_queue: str,
) -> AsyncIterator[str]:
    """The real app on a real port, in this test's event loop (it shares the Temporal client),
    over the Temporal dev server: time rules need Schedules, which the time-skipping one lacks."""
    worker = build_worker(
        dev_env.client,
        sessions,
        task_queue=dev_worker_queue,
        executor=executor,
        allow_private_webhooks=True,
    )
    settings = Settings(
        task_queue=dev_worker_queue,
        temporal_ui_url="http://temporal-ui.test",
        webhook_allow_private=True,
    )
    app = create_app(settings, sessions=sessions, client=dev_env.client)
    # ignored_auth sends wrong keys on purpose; from one address the failure limiter would
    # answer 429 to everything after ten of them (the limiter has tests of its own).
    app.state.key_failures = FailureLimiter(limit=10**9)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    async with worker:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        await serving


@pytest.mark.slow
async def test_schemathesis_finds_nothing(base_url, tenant, tmp_path: Path):
    """All checks, all phases (examples, coverage, fuzzing, stateful): 0 failures."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {tenant.api_key}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    # Asynchronous: the server answers from this same event loop meanwhile.
    run = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(
            os.environ,
            SCHEMATHESIS_HOOKS="tests.api.contract_hooks",  # rules JSON Schema can't state
            NUDGE_CONTRACT_CONTACT=str(tenant.contact_id),  # a contact the hooks may name
            PYTHONPATH=str(ROOT),
            NO_COLOR="1",
        ),
        cwd=tmp_path,
    )
    try:
        output, _ = await asyncio.wait_for(run.communicate(), BUDGET_SECONDS)
    except TimeoutError:
        run.kill()
        await run.wait()
        pytest.fail(f"schemathesis ran over {BUDGET_SECONDS} s")
    text = output.decode(errors="replace")
    log = Path(os.environ.get("NUDGE_CONTRACT_LOG", tmp_path / "schemathesis.txt"))
    log.write_text(text)
    assert run.returncode == 0, f"schemathesis (seed {SEED}, log {log}):\n{text[-20000:]}"
    assert "✅ Stateful" in text, text[-3000:]  # the stateful phase ran, and passed
