"""The `nudge` command: run everything, or one part, and manage owners."""

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from nudge.platform.settings import Settings, get_settings

app = typer.Typer(
    help=(
        "Nudge: follow-up tasks that happen exactly once, on Temporal.\n\n"
        "Start here: `nudge up` runs the Temporal dev server (web UI included), the worker "
        "and the API on an embedded SQLite database, and prints an API key and the URLs. "
        "Settings come from NUDGE_* environment variables (see README)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

DataDir = Annotated[
    Path | None,
    typer.Option(help="Where SQLite files and the local API key live [env NUDGE_DATA_DIR; .nudge]"),
]
ApiPort = Annotated[int | None, typer.Option(help="API port [env NUDGE_API_PORT; 8000]")]
TemporalPort = Annotated[
    int | None, typer.Option(help="Temporal gRPC port [env NUDGE_TEMPORAL_PORT; 7233]")
]
UiPort = Annotated[
    int | None, typer.Option(help="Temporal web UI port [env NUDGE_TEMPORAL_UI_PORT; 8233]")
]


def _settings(**overrides: object) -> Settings:
    chosen = {k: v for k, v in overrides.items() if v is not None}
    return get_settings().model_copy(update=chosen) if chosen else get_settings()


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _exit(code: int) -> None:
    # The SDK's runtime can crash in interpreter teardown (sdk-python#300): leave directly.
    from nudge.platform.tracing import shutdown

    shutdown()  # os._exit skips atexit: send the spans still queued first
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _logging(settings: Settings) -> None:
    """Text (the default) or JSON lines: NUDGE_LOG_FORMAT."""
    from nudge.platform.logs import configure_logging

    configure_logging(settings)


def _ensure_local_owner(settings: Settings) -> str | None:
    """On first start create owner 'default' and keep its key in the data dir."""
    from nudge.core.models import Owner
    from nudge.platform.db import make_engine, make_session_factory, transaction
    from nudge.platform.owners import create_owner

    key_file = settings.data_dir / "api-key"
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            if session.scalar(select(func.count()).select_from(Owner)):
                return key_file.read_text().strip() if key_file.exists() else None
            _, key = create_owner(session, "default")
    finally:
        engine.dispose()
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


@app.command()
def up(
    data_dir: DataDir = None,
    api_port: ApiPort = None,
    temporal_port: TemporalPort = None,
    ui_port: UiPort = None,
) -> None:
    """Run everything: Temporal dev server + web UI, worker and API. Ctrl-C stops all.

    Workflows and tasks survive a restart (state lives in the data dir). Set
    NUDGE_TEMPORAL_ADDRESS to use an existing Temporal server instead of starting one."""
    from nudge.platform import supervisor as sv
    from nudge.platform.migrate import upgrade

    settings = _settings(
        data_dir=data_dir, api_port=api_port, temporal_port=temporal_port, temporal_ui_port=ui_port
    )
    settings = settings.model_copy(update={"data_dir": sv.ensure_dir(settings.data_dir)})
    boss = sv.Supervisor()
    boss.install_signal_handlers()
    code = 1
    try:
        sv.say("nudge", f"data in {settings.data_dir}")
        if settings.temporal_address is None:
            temporal = boss.start("temporal", sv.temporal_argv(settings), dict(os.environ))
            sv.say("nudge", f"starting Temporal dev server on 127.0.0.1:{settings.temporal_port}")
            sv.wait_for_port("127.0.0.1", settings.temporal_port, 60, temporal)
        sv.say("nudge", "migrating the database")
        upgrade(settings.sqlalchemy_url)
        key = _ensure_local_owner(settings)
        env = sv.child_env(settings)
        python = [sys.executable, "-m", "nudge"]
        boss.start("worker", [*python, "worker"], env)
        api = boss.start("api", [*python, "api"], env)
        sv.wait_for_port(settings.api_host, settings.api_port, 60, api)
        base = f"http://{settings.api_host}:{settings.api_port}"
        for line in (
            f"Web page     {base}/automations/task-scheduling   (sign in with the key below)",
            f"API          {base}   (docs: {base}/docs)",
            f"Temporal UI  {settings.ui_base_url}",
            f"API key      {key}" if key else "API key      (make one: nudge create-owner NAME)",
            "Press Ctrl-C to stop.",
        ):
            sv.say("nudge", line)
        code = boss.wait()
    except RuntimeError as err:
        sv.say("nudge", f"error: {err}", sys.stderr)
    finally:
        boss.stop_all()
    sv.say("nudge", "stopped" if code == 0 else "stopped after an error")
    _exit(code)


@app.command()
def worker() -> None:
    """Run the worker: every workflow and activity, on the configured task queue."""
    import worker as worker_module

    settings = _settings()
    _logging(settings)
    try:
        asyncio.run(worker_module.run(settings))
    except Exception as err:
        logging.getLogger("nudge.worker").error("worker failed: %s", err)
        _exit(1)
    _exit(0)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address [env NUDGE_API_HOST]")] = None,
    port: ApiPort = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes serving the port, each with its own database pool and Temporal "
            "client [env NUDGE_API_WORKERS; 1]",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from api.app import serving_app

    settings = _settings(api_host=host, api_port=port, api_workers=workers)
    _logging(settings)
    # JSON: uvicorn's own lines go through the root handler too, instead of its text config.
    log_config = None if settings.log_format == "json" else LOGGING_CONFIG
    host, port = settings.api_host, settings.api_port
    if settings.api_workers == 1:
        uvicorn.run(serving_app(settings), host=host, port=port, log_config=log_config)
    else:
        # Each worker process imports the app by name and builds its own from the environment.
        uvicorn.run(
            "api.app:app_from_env",
            factory=True,
            workers=settings.api_workers,
            host=host,
            port=port,
            log_config=log_config,
        )
    _exit(0)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (NUDGE_DATABASE_URL, or SQLite in the data dir)."""
    from nudge.platform.migrate import upgrade

    settings = _settings()
    upgrade(settings.sqlalchemy_url)
    _err(f"database is up to date: {settings.sqlalchemy_url}")


@app.command("create-owner")
def create_owner_cmd(name: Annotated[str, typer.Argument(help="Who the key is for")]) -> None:
    """Create an owner and print its API key, alone on stdout (store it: it is shown once).

    Example: KEY=$(nudge create-owner alice)"""
    from nudge.platform.db import make_engine, make_session_factory, transaction
    from nudge.platform.owners import create_owner

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            owner, key = create_owner(session, name)
    except Exception as err:
        _err(f"could not create the owner ({err.__class__.__name__}); run `nudge migrate` first?")
        raise typer.Exit(1) from None
    typer.echo(key)
    _err(f"owner {owner.id} ({name}) created; send the key as `Authorization: Bearer <key>`")


schedules_app = typer.Typer(help="The periodic jobs' Temporal Schedules.", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")


@schedules_app.command("sync")
def schedules_sync() -> None:
    """Create or update the four periodic schedules (the worker also does this at start).

    auto-schedule-overdue-tasks (daily 09:00), schedule-recurring-tasks (daily 08:00),
    send-task-reminders and process-automation-workflows (every 15 minutes), in
    NUDGE_TIMEZONE. Safe to run any number of times."""
    from nudge.periodic.schedules import sync_schedules
    from nudge.platform.temporal import connect

    settings = _settings()

    async def sync() -> list[str]:
        client = await connect(settings)
        return await sync_schedules(
            client, settings.task_queue, settings.timezone, settings.sweep_page_size
        )

    try:
        for schedule_id in asyncio.run(sync()):
            typer.echo(schedule_id)
    except Exception as err:
        _err(f"could not sync schedules: {err}")
        _exit(1)
    _exit(0)


@app.command()
def doctor(
    api: Annotated[
        bool, typer.Option(help="Also check the API and the web page at NUDGE_API_HOST:PORT")
    ] = True,
) -> None:
    """Check everything Nudge needs, one line each (✓ or ✗, with the fix): settings, the
    database and its schema, API keys, Temporal, the namespace, search attributes, the four
    periodic Schedules, a worker polling the task queue, the API and the web page.

    Exit code 0 only when every check passes. Example: `nudge doctor --no-api` on a worker host."""
    from nudge.platform.db import make_engine, make_session_factory
    from nudge.platform.doctor import diagnose
    from nudge.platform.temporal import connect

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    api_url = f"http://{settings.api_host}:{settings.api_port}" if api else None

    async def run() -> list:
        return await diagnose(
            settings, engine, make_session_factory(engine), lambda: connect(settings),
            api_url=api_url,
        )  # fmt: skip

    checks = asyncio.run(run())
    for check in checks:
        typer.echo(check.line())
    failed = [c for c in checks if not c.ok]
    typer.echo(f"{len(checks) - len(failed)} of {len(checks)} checks pass")
    engine.dispose()
    _exit(1 if failed else 0)


stats_app = typer.Typer(help="The stats roll-up counters.", no_args_is_help=True)
app.add_typer(stats_app, name="stats")


@stats_app.command("rebuild")
def stats_rebuild(
    owner: Annotated[
        int | None, typer.Option(help="Only this owner's counters (default: everyone's)")
    ] = None,
) -> None:
    """Recompute the stats roll-ups from the tasks table, in one transaction.

    Every task change keeps them exact by itself; run this after writing tasks behind
    Nudge's back (a bulk load, a restore, a hand-run UPDATE). Stats read the old counters
    until it commits. Example: `nudge stats rebuild --owner 3`"""
    import time

    from nudge.platform.db import make_engine, make_session_factory, transaction
    from nudge.reporting.rollups import rebuild

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    who = f"owner {owner}" if owner is not None else "every owner"
    _err(f"rebuilding the stats roll-ups of {who} from the tasks table …")
    started = time.perf_counter()
    try:
        with transaction(make_session_factory(engine)) as session:
            written = rebuild(session, owner)
    except Exception as err:
        _err(f"could not rebuild ({err.__class__.__name__}: {err}); run `nudge migrate` first?")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for table, rows in written.items():
        typer.echo(f"{table}: {rows} rows")
    _err(f"done in {time.perf_counter() - started:.1f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
