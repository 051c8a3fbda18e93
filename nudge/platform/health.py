"""Is Nudge ready: the database and Temporal, each checked the same way by the readiness
probe (`/readyz`) and by `nudge doctor`."""

from dataclasses import dataclass
from datetime import timedelta

from anyio import to_thread
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

RPC_TIMEOUT = timedelta(seconds=3)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        text_ = f"{mark} {self.name}: {self.detail}"
        return text_ if self.ok or not self.fix else f"{text_}\n    fix: {self.fix}"


def why(err: BaseException) -> str:
    return f"{err.__class__.__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"


async def check_database(sessions: sessionmaker[Session]) -> Check:
    def ping() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        await to_thread.run_sync(ping)
    except Exception as err:  # any driver error means "down" here
        return Check(
            "database",
            False,
            f"unreachable ({why(err)})",
            "start the database, or set NUDGE_DATABASE_URL to one that runs",
        )
    return Check("database", True, "answers")


async def check_temporal(client: Client, target: str) -> Check:
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=RPC_TIMEOUT)
    except Exception as err:
        return temporal_down(target, err)
    return Check("Temporal", True, f"{target} answers")


def temporal_down(target: str, err: BaseException) -> Check:
    """Temporal can't be reached (at connect, or when asked): one message for both."""
    return Check(
        "Temporal",
        False,
        f"unreachable at {target} ({why(err)})",
        "run `nudge up`, or set NUDGE_TEMPORAL_ADDRESS to a running frontend",
    )
