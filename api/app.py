"""The FastAPI application: thin over the database and Temporal."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api import (
    boundary,
    errors,
    faults,
    metrics,
    openapi,
    pages,
    ratelimit,
    security_headers,
)
from api.deps import Callers
from api.routes import (
    account,
    batches,
    calendar,
    campaigns,
    contacts,
    definitions,
    events,
    health,
    integrations,
    recurring,
    rules,
    sequences,
    stats,
    tasks,
    webhooks,
)
from nudge.integrations.outbox import set_kicker
from nudge.integrations.starts import DeliveryTiming, ThreadKicker
from nudge.platform.db import make_engine, make_session_factory
from nudge.platform.heap import freeze_startup
from nudge.platform.logs import configure_logging, redact_feed_tokens
from nudge.platform.settings import Settings, get_settings
from nudge.platform.temporal import connect
from nudge.platform.tracing import instrument
from nudge.reporting.stats import RunningCounts
from nudge.rules.events import Unstarted

DESCRIPTION = """
Nudge creates the right follow-up task, for the right person, at the right time, exactly once.

Authenticate with `Authorization: Bearer <api key>`; `nudge up` prints a key on first start
and `nudge create-owner NAME` makes more. Every answer is scoped to the key's owner.
"""


def app_from_env() -> FastAPI:
    """One API process's app, by import string (`nudge api --workers N` starts N processes):
    its own settings from the environment, logging, engine and Temporal client."""
    settings = get_settings()
    configure_logging(settings)
    return serving_app(settings)


def serving_app(settings: Settings) -> FastAPI:
    """The app of a server process (`nudge api`): built, then its startup heap frozen."""
    app = create_app(settings)
    freeze_startup()
    return app


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    client: Client | None = None,
) -> FastAPI:
    """Build the app; tests pass their own session factory and Temporal client."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        app.state.settings = settings
        app.state.sessions = sessions
        if sessions is None:
            engine = make_engine(settings.sqlalchemy_url)
            app.state.sessions = make_session_factory(engine)
        # Lazy: the API answers (and /healthz reports) even while Temporal is still starting.
        app.state.temporal = client or await connect(settings, lazy=True)
        app.state.running = RunningCounts(app.state.temporal)
        app.state.callers = Callers()
        # Task events this process's commits leave to deliver are kicked off on this loop.
        set_kicker(
            ThreadKicker(
                app.state.temporal,
                settings.task_queue,
                asyncio.get_running_loop(),
                DeliveryTiming(*settings.delivery_timing),
            )
        )
        # Events stored while Temporal was away are started by this process once it is back.
        app.state.unstarted = Unstarted(settings.events_retry_seconds)
        retrying = asyncio.create_task(
            app.state.unstarted.run(app.state.temporal, app.state.sessions, settings.task_queue)
        )
        try:
            yield
        finally:
            retrying.cancel()
            with suppress(asyncio.CancelledError):
                await retrying
            if engine is not None:
                engine.dispose()

    app = FastAPI(
        title="Nudge",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)
    metrics.install(app)  # GET /metrics, request counts and latency by route template
    instrument(app)  # a span per request, when OTEL_* turns tracing on
    redact_feed_tokens()  # the access log never shows a feed URL's secret
    for module in (
        health,
        contacts,
        events,
        rules,
        definitions,  # before sequences: /sequences/definitions/ is not a workflow id
        sequences,
        recurring,
        tasks,
        batches,
        stats,
        campaigns,
        account,
        calendar,
        webhooks,
        integrations,
    ):
        app.include_router(module.router)
    pages.install(app)
    openapi.install(app)  # every error status, with the error body the API sends
    boundary.install(app)  # HEAD as GET; a 405's Allow names all the path's methods
    ratelimit.install(app)  # failed API keys and sign-ins, per client address
    faults.install(app)  # wraps the middleware above: what none of them answered
    security_headers.install(app)  # outermost: nosniff everywhere, the fault answers included
    return app
