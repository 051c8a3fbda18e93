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
)

from nudge.core.ids import periodic_run_id
from nudge.core.vocabulary import PeriodicJob
from nudge.platform.temporal import upsert_schedule
from workflows.periodic import PeriodicJobWorkflow


@dataclass(frozen=True)
class Periodic:
    schedule_id: str
    job: PeriodicJob
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
             "Every 15 min: finish interrupted events, start stranded campaign enrollments, "
             "close batches whose workflow ended in Temporal"),
)  # fmt: skip


def _schedule(p: Periodic, task_queue: str, timezone: str, page_size: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PeriodicJobWorkflow.run,
            args=[p.job, page_size],
            id=periodic_run_id(p.schedule_id),
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
        await upsert_schedule(client, p.schedule_id, _schedule(p, task_queue, timezone, page_size))
        synced.append(p.schedule_id)
    return synced
