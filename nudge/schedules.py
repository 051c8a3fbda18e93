"""The periodic jobs as Temporal Schedules (the old beat table), kept in sync idempotently.

Overlap policy skip: a slow run is never doubled by the next tick. Times are in the
configured time zone."""

from dataclasses import dataclass

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows.periodic import Job, PeriodicJobWorkflow


@dataclass(frozen=True)
class Periodic:
    schedule_id: str
    job: Job
    cron: str
    note: str


PERIODIC = (
    Periodic("auto-schedule-overdue-tasks", "escalate_overdue", "0 9 * * *",
             "Daily 09:00: an urgent task for each overdue follow-up"),
    Periodic("schedule-recurring-tasks", "reconcile_recurring", "0 8 * * *",
             "Daily 08:00: every contact with a cadence has its recurring check-ins"),
    Periodic("send-task-reminders", "remind_due", "*/15 * * * *",
             "Every 15 min: deliver any due reminder that has not gone out"),
    Periodic("process-automation-workflows", "process_automation", "*/15 * * * *",
             "Every 15 min: finish interrupted events, start stranded campaign enrollments"),
)  # fmt: skip


def _schedule(p: Periodic, task_queue: str, timezone: str, page_size: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PeriodicJobWorkflow.run,
            args=[p.job, page_size],
            id=f"periodic-{p.schedule_id}",
            task_queue=task_queue,
            static_summary=p.note,
        ),
        spec=ScheduleSpec(cron_expressions=[p.cron], time_zone_name=timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def sync_schedules(
    client: Client, task_queue: str, timezone: str, page_size: int = 500
) -> list[str]:
    """Create each schedule, or update it to today's definition. Safe to run any number of
    times, from any number of workers at once."""
    synced = []
    for p in PERIODIC:
        wanted = _schedule(p, task_queue, timezone, page_size)
        try:
            await client.create_schedule(p.schedule_id, wanted)
        except Exception as err:  # ScheduleAlreadyRunningError, or a race with another worker
            if isinstance(err, RPCError) and err.status != RPCStatusCode.ALREADY_EXISTS:
                raise

            def replace(_: ScheduleUpdateInput, wanted: Schedule = wanted) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await client.get_schedule_handle(p.schedule_id).update(replace)
        synced.append(p.schedule_id)
    return synced
