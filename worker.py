"""The Nudge worker: runs every workflow and activity on one task queue."""

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.campaigns import CampaignActivities
from activities.enroll import EnrollActivities
from activities.periodic import PeriodicActivities
from activities.reminders import ReminderActivities
from activities.rules import RuleActivities, TimeRuleActivities
from activities.sequences import DefinedSequenceActivities
from activities.tasks import TaskActivities
from activities.webhooks import DeliveryActivities
from nudge.integrations.outbox import set_kicker
from nudge.integrations.starts import DeliveryTiming, ThreadKicker
from nudge.periodic.schedules import sync_schedules
from nudge.platform.db import make_engine, make_session_factory
from nudge.platform.heap import freeze_startup
from nudge.platform.metrics import sdk_metrics_runtime, serve_worker_metrics
from nudge.platform.settings import Settings
from nudge.platform.temporal import connect, ensure_search_attributes
from workflows.campaign import CampaignEnrollmentWorkflow
from workflows.defined_sequence import DefinedSequenceWorkflow
from workflows.delivery import DeliveryWorkflow
from workflows.enroll_job import EnrollJobWorkflow
from workflows.periodic import PeriodicJobWorkflow
from workflows.recurring import RecurringWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.rule_firing import RuleFiringWorkflow
from workflows.sequence import SequenceWorkflow
from workflows.time_rule import TimeRuleRunWorkflow

log = logging.getLogger("nudge.worker")

WORKFLOWS = [
    SequenceWorkflow,
    RuleFiringWorkflow,
    ReminderWorkflow,
    RecurringWorkflow,
    PeriodicJobWorkflow,
    TimeRuleRunWorkflow,
    CampaignEnrollmentWorkflow,
    DefinedSequenceWorkflow,
    EnrollJobWorkflow,
    DeliveryWorkflow,
]


def build_worker(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    task_queue: str,
    executor: ThreadPoolExecutor,
    max_concurrent_activities: int = 16,
    max_cached_workflows: int = 1000,
    workflow_pollers: int = 5,
    activity_pollers: int = 5,
    allow_private_webhooks: bool = False,
    overdue_grace_hours: float = 24,
    delivery_timing: DeliveryTiming = DeliveryTiming(),
) -> Worker:
    tasks, rules, reminders = (
        TaskActivities(sessions),
        RuleActivities(sessions),
        ReminderActivities(sessions, allow_private=allow_private_webhooks),
    )
    time_rules, campaigns = TimeRuleActivities(sessions), CampaignActivities(sessions)
    periodic = PeriodicActivities(
        client,
        sessions,
        task_queue,
        grace_hours=overdue_grace_hours,
        delivery_timing=delivery_timing,
    )
    defined, enrolling = (
        DefinedSequenceActivities(sessions),
        EnrollActivities(client, sessions, task_queue),
    )
    calendar = CalendarActivities(sessions)
    deliveries = DeliveryActivities(sessions, allow_private=allow_private_webhooks)
    # Task events a commit in this process leaves to deliver are kicked off on this loop.
    with suppress(RuntimeError):  # no running loop: the periodic sweep starts them
        set_kicker(ThreadKicker(client, task_queue, asyncio.get_running_loop(), delivery_timing))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            tasks.begin_sequence,
            tasks.create_task,
            tasks.finish_batch,
            tasks.create_cadence_task,
            rules.fire_rule,
            time_rules.run_time_rule,
            campaigns.run_step,
            reminders.record_reminder,
            reminders.post_webhook,
            reminders.mark_reminder,
            periodic.escalate_overdue,
            periodic.remind_due,
            periodic.reconcile_recurring,
            periodic.finish_events,
            periodic.restart_enrollments,
            periodic.close_ended_batches,
            defined.begin_defined_sequence,
            defined.create_defined_step,
            defined.check_task,
            enrolling.prepare_enroll_job,
            enrolling.enroll_page,
            enrolling.set_enroll_status,
            calendar.place_due,
            deliveries.next_delivery,
            deliveries.deliver,
            deliveries.dead_letter,
            periodic.kick_pending_deliveries,
            periodic.process_inbound,
        ],
        activity_executor=executor,
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
        max_concurrent_workflow_task_polls=workflow_pollers,
        max_concurrent_activity_task_polls=activity_pollers,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings) -> None:
    port = settings.worker_metrics_port
    # The SDK's metrics are its client's runtime's: the runtime exists before the client.
    runtime, sdk_metrics = sdk_metrics_runtime() if port is not None else (None, None)
    client = await connect(settings, runtime=runtime)
    if settings.register_search_attributes:
        await ensure_search_attributes(client)
    try:
        synced = await sync_schedules(
            client, settings.task_queue, settings.timezone, settings.sweep_page_size
        )
        log.info("schedules in sync: %s", ", ".join(synced))
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping test server has no schedules; everything else still works.
        log.warning("this Temporal server has no schedules; periodic jobs won't run")
    engine = make_engine(settings.sqlalchemy_url)
    sessions = make_session_factory(engine)
    metrics = None
    if port is not None:
        metrics = serve_worker_metrics(port, sessions, sdk_metrics)
        log.info("metrics (Nudge's and the Temporal SDK's) on :%d/metrics", metrics.port)
    # One thread per activity slot: sync activities never wait for a thread.
    slots = settings.worker_activity_slots
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="activity") as executor:
        worker = build_worker(
            client,
            sessions,
            task_queue=settings.task_queue,
            executor=executor,
            max_concurrent_activities=slots,
            max_cached_workflows=settings.worker_max_cached_workflows,
            workflow_pollers=settings.worker_workflow_pollers,
            activity_pollers=settings.worker_activity_pollers,
            allow_private_webhooks=settings.webhook_allow_private,
            overdue_grace_hours=settings.overdue_grace_hours,
            delivery_timing=DeliveryTiming(*settings.delivery_timing),
        )
        # The SDK installs no signal handlers: stop polling, let running activities finish.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
        log.info(
            "worker polling task queue %r on %s", settings.task_queue, settings.temporal_target
        )
        freeze_startup()
        await worker.run()
    if metrics is not None:
        metrics.close()
    engine.dispose()
    log.info("worker stopped")
