"""Small helpers tests import (fixtures live in conftest.py)."""

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.testing import WorkflowEnvironment


def auth(tenant: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def poll(
    fetch: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], seconds: float = 15
) -> Any:
    """Re-fetch until the condition holds or time runs out; returns the last value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await fetch()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


def patient_sleep(env: WorkflowEnvironment, deadline: timedelta = timedelta(minutes=5)) -> None:
    """Give the time-skipping server's `sleep` a deadline longer than the client's 30 s
    default: the clock stands still while the activities a skip releases run, so skipping
    a day that enrolls 500 contacts can take longer than 30 s of real time on a busy
    machine (seen on PostgreSQL in CI)."""

    async def sleep(duration: timedelta | float) -> None:
        req = SleepRequest()
        req.duration.FromTimedelta(
            duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        )
        await env.client.test_service.unlock_time_skipping_with_sleep(req, timeout=deadline)

    env.sleep = sleep  # type: ignore[method-assign]


def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL if pytest itself dies, so none outlives the run."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class WorkerProcess:
    """`nudge worker` as a real OS process, pointed at the test's server and database."""

    def __init__(self, target: str, database_url: str, task_queue: str, log: Path) -> None:
        self.env = dict(
            os.environ,
            NUDGE_TEMPORAL_ADDRESS=target,
            NUDGE_DATABASE_URL=database_url,
            NUDGE_TASK_QUEUE=task_queue,
            # A dead worker's sticky queue would hold the next workflow task until its
            # timeout, which the time-skipping server never lets pass.
            NUDGE_WORKER_MAX_CACHED_WORKFLOWS="0",
            PYTHONUNBUFFERED="1",
        )
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        start = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nudge", "worker"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        while b"worker polling" not in self.log.read_bytes()[start:]:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
