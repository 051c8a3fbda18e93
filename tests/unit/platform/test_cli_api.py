"""`nudge api --workers N`: one process serves the app it built; more hand uvicorn the app
factory by name, so each worker process builds its own (settings, engine, Temporal client)."""

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from api import app as app_module
from nudge.platform import cli


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Heap freezes asked for (not done: this test process builds many apps)."""
    calls: list[bool] = []
    monkeypatch.setattr(app_module, "freeze_startup", lambda: calls.append(True))
    return calls


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, frozen) -> list[tuple[Any, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """What `nudge api` hands uvicorn.run (nothing is served, the process is not left)."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr(cli, "_exit", lambda code: None)
    monkeypatch.setattr(cli, "_logging", lambda settings: None)
    return calls


def test_workers_get_the_app_factory_by_name(served):
    result = CliRunner().invoke(cli.app, ["api", "--workers", "2", "--port", "18150"])
    assert result.exit_code == 0, result.output
    [(app, options)] = served
    assert app == "api.app:app_from_env"
    assert (options["factory"], options["workers"], options["port"]) == (True, 2, 18150)


def test_one_process_serves_the_app_it_built(served, frozen):
    result = CliRunner().invoke(cli.app, ["api", "--port", "18150"])
    assert result.exit_code == 0, result.output
    [(app, options)] = served
    assert isinstance(app, FastAPI) and "workers" not in options
    assert frozen == [True]  # its startup heap out of the collector's way


def test_zero_workers_is_refused(served):
    result = CliRunner().invoke(cli.app, ["api", "--workers", "0"])
    assert result.exit_code != 0 and not served


def test_the_factory_builds_an_app_from_the_environment(monkeypatch, tmp_path, frozen):
    monkeypatch.setenv("NUDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(app_module, "configure_logging", lambda settings: None)
    assert isinstance(app_module.app_from_env(), FastAPI)
    assert frozen == [True]
