"""Automation statistics: sums of the roll-up counters, plus Temporal's own count."""

import asyncio

from anyio import to_thread
from fastapi import APIRouter

from api.boundary import JsonBoundaryRoute
from api.deps import OwnerDep, RunningDep, SessionsDep
from api.params import WindowTime
from nudge.core.models import utcnow
from nudge.reporting.schemas import StatsOut
from nudge.reporting.stats import Window, stats_of

router = APIRouter(prefix="/api/task-automation", tags=["stats"], route_class=JsonBoundaryRoute)


@router.get("/stats/", response_model=StatsOut, responses={422: {}})
async def stats(
    owner: OwnerDep,
    sessions: SessionsDep,
    running: RunningDep,
    since: WindowTime = None,
    until: WindowTime = None,
) -> dict:
    """Rules, tasks by status and priority, overdue, completion and overdue rates, median time
    to complete per rule, tasks created per day, and what is running. With `since`/`until`
    (ISO 8601, `until` exclusive) task figures count the tasks created in that window."""
    window = Window.of(owner.id, utcnow(), since, until)

    # The database's figures in a thread while Temporal's counts come (kept a few seconds).
    figures, workflows = await asyncio.gather(
        to_thread.run_sync(stats_of, sessions, window), running.of(owner.id)
    )
    return figures | {"running_workflows": workflows}
