"""`nudge up`: the Temporal dev server, the worker and the API as one process group."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nudge.platform.binaries import find_binary
from nudge.platform.settings import Settings
from nudge.platform.temporal import dev_server_search_attribute_args

COLORS = {"temporal": "35", "worker": "36", "api": "32", "nudge": "1"}
STOP_TIMEOUT = 20.0


def say(name: str, line: str, stream: IO[str] = sys.stdout) -> None:
    tag = f"[{name}]".ljust(11)
    if stream.isatty():
        tag = f"\033[{COLORS.get(name, '0')}m{tag}\033[0m"
    stream.write(f"{tag}{line.rstrip()}\n")
    stream.flush()


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[str]
    pump: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.pump = threading.Thread(target=self._relay, daemon=True)
        self.pump.start()

    def _relay(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            say(self.name, line)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; waits for the process and its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say("nudge", f"{self.name} did not stop in {STOP_TIMEOUT:.0f}s; killing it")
                self.proc.kill()
                self.proc.wait()
        self.pump.join(timeout=5)


def spawn(name: str, argv: list[str], env: dict[str, str]) -> Child:
    # A session of its own: Ctrl-C reaches only us, and we stop the children in order.
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    return Child(name, proc)


def temporal_argv(settings: Settings) -> list[str]:
    return [
        find_binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--namespace",
        settings.namespace,
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        # WAL roughly doubles workflow throughput over the default rollback journal.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "error",
        "--ui-disable-news-fetch",
        *dev_server_search_attribute_args(),
    ]


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NUDGE_DATA_DIR=str(settings.data_dir),
        NUDGE_DATABASE_URL=settings.sqlalchemy_url,
        NUDGE_TEMPORAL_ADDRESS=settings.temporal_target,
        NUDGE_TEMPORAL_PORT=str(settings.temporal_port),
        NUDGE_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        NUDGE_TEMPORAL_UI_URL=settings.ui_base_url,
        NUDGE_NAMESPACE=settings.namespace,
        NUDGE_TASK_QUEUE=settings.task_queue,
        NUDGE_API_HOST=settings.api_host,
        NUDGE_API_PORT=str(settings.api_port),
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_for_port(host: str, port: int, timeout: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing is listening on {host}:{port} after {timeout:.0f}s")


class Supervisor:
    """Start children in order, relay their output, stop them in reverse on a signal."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = spawn(name, argv, env)
        self.children.append(child)
        return child

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())

    def wait(self) -> int:
        """Block until a signal (exit 0) or a child dying on its own (exit 1)."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                if child.proc.poll() is not None:
                    say("nudge", f"{child.name} exited with code {child.proc.returncode}")
                    return 1
        return 0

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                say("nudge", f"stopping {child.name}")
            child.stop()


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)  # secrets and keys live here
    return path.resolve()
