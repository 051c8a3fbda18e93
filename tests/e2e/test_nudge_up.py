"""`nudge up` as a user runs it: one process, everything up, Ctrl-C stops all of it."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from api.embedded import free_port

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def call(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple:
    req = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None
    )
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_up_serves_then_stops_cleanly_on_sigint(tmp_path):
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    log = (tmp_path / "up.log").open("w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "nudge", "up",
            "--data-dir", str(tmp_path / "data"),
            "--api-port", str(api_port),
            "--temporal-port", str(temporal_port),
            "--ui-port", str(ui_port),
        ],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, Path(log.name).read_text()
            ready = "Press Ctrl-C to stop." in Path(log.name).read_text()
            try:
                if ready and call("GET", f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        output = Path(log.name).read_text()
        key = (tmp_path / "data" / "api-key").read_text().strip()
        assert f"API key      {key}" in output
        assert f"Temporal UI  http://127.0.0.1:{ui_port}" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10) as ui:
            assert ui.status == 200
        page = f"{base}/automations/task-scheduling"
        assert f"Web page     {page}" in output
        with urllib.request.urlopen(f"{page}/sign-in", timeout=10) as signin:
            assert signin.status == 200 and b"API key" in signin.read()
        with urllib.request.urlopen(f"{page}/static/vendor/htmx.min.js", timeout=10) as js:
            assert js.status == 200  # vendored: served from the package, not a CDN

        status, contact = call(
            "POST", f"{base}/api/contacts/", key, {"external_id": "c1", "name": "Linus"}
        )
        assert status == 201
        status, started = call(
            "POST",
            f"{base}/api/task-automation/schedule-sequence/",
            key,
            {"contact_id": contact["id"], "sequence_type": "gentle", "start_delay_hours": 1},
        )
        assert status == 201 and len(started["planned"]) == 4
        status, progress = call(
            "GET", f"{base}/api/task-automation/sequences/{started['workflow_id']}/", key
        )
        assert (status, progress["state"]) == (200, "running")

        # `nudge doctor` against the running whole: every check passes.
        doctor = subprocess.run(
            [sys.executable, "-m", "nudge", "doctor"],
            env={**env, "NUDGE_DATA_DIR": str(tmp_path / "data"),
                 "NUDGE_API_PORT": str(api_port), "NUDGE_TEMPORAL_PORT": str(temporal_port)},
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "✗" not in doctor.stdout and "10 of 10 checks pass" in doctor.stdout

        children = descendants(proc.pid)
        assert len(children) >= 3  # temporal, worker, api
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == []
        tail = Path(log.name).read_text()
        assert "[nudge]    stopped" in tail
    finally:
        if proc.poll() is None:
            for pid in descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
