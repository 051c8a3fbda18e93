"""Workflows for the benchmarks: the raw Temporal floors Nudge is measured against.
Kept apart from the benchmarks so the workflow sandbox imports nothing heavy."""

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from nudge.tasks.payloads import NewTask

ACTIVITY_TIMEOUT = timedelta(seconds=30)


class Due(BaseModel):
    """When the floor's timer is to fire."""

    at: datetime


@activity.defn
def noop(_: NewTask) -> None:
    return None


@activity.defn
def late_by(due: Due) -> float:
    """Seconds past the due time this activity started: a timer's lateness, as Nudge's is
    read off the task row it writes."""
    return (datetime.now(UTC) - due.at).total_seconds()


@workflow.defn
class FloorWorkflow:
    """The least a Temporal start can cost: no timers, no activities."""

    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn
class ActivityFloorWorkflow:
    """One activity that does nothing: the floor under a task write."""

    @workflow.run
    async def run(self, new: NewTask) -> None:
        await workflow.execute_activity(noop, new, start_to_close_timeout=ACTIVITY_TIMEOUT)


@workflow.defn
class TimerFloorWorkflow:
    """One timer, then one activity that does nothing but say how late it ran: the floor
    under a rule firing (wait out the delay, write the task)."""

    @workflow.run
    async def run(self, due: Due) -> float:
        wait = (due.at - workflow.now()).total_seconds()
        if wait > 0:
            await workflow.sleep(wait)
        return await workflow.execute_activity(
            late_by, due, start_to_close_timeout=ACTIVITY_TIMEOUT
        )


@workflow.defn
class WriteTaskWorkflow:
    """One activity that writes a task row, as every sequence step does."""

    @workflow.run
    async def run(self, new: NewTask) -> None:
        await workflow.execute_activity("create_task", new, start_to_close_timeout=ACTIVITY_TIMEOUT)
