"""Workflows for the benchmarks: the raw Temporal floor, and one task write for comparison.
Kept apart from bench/sequences.py so the workflow sandbox imports nothing heavy."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from nudge.tasks.payloads import NewTask

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@activity.defn
def noop(_: NewTask) -> None:
    return None


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
class WriteTaskWorkflow:
    """One activity that writes a task row, as every sequence step does."""

    @workflow.run
    async def run(self, new: NewTask) -> None:
        await workflow.execute_activity("create_task", new, start_to_close_timeout=ACTIVITY_TIMEOUT)
