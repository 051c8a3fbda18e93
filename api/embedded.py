"""Serve the real app on a real port inside the caller's event loop (tests, benchmarks),
so it can share that loop's Temporal client."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.app import create_app
from nudge.platform.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serve_api(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    *,
    allow_private_webhooks: bool = True,  # test receivers listen on 127.0.0.1
) -> AsyncIterator[httpx.AsyncClient]:
    """Yields an HTTP client for the running server; stops the server on exit."""
    settings = Settings(
        task_queue=task_queue,
        temporal_ui_url="http://temporal-ui.test",
        webhook_allow_private=allow_private_webhooks,
    )
    app = create_app(settings, sessions=sessions, client=client)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        yield http
    server.should_exit = True
    await serving
