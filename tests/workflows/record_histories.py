"""Record workflow histories for the replay test.

Run after a deliberate, compatible change to a workflow's history shape:
    .venv/bin/python -m tests.workflows.record_histories [GROUP ...]
(GROUP: sequences, rules, recurring, periodic, defined, calendar, webhooks; none: all.)
Then commit tests/workflows/histories/. Never re-record to make a failing replay pass: a
replay failure means running workflows would break; guard the change with workflow.patched.
"""

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nudge.calendar.changes import adopt_calendar_everywhere
from nudge.calendar.schemas import CalendarIn
from nudge.calendar.service import save_calendar
from nudge.calendar.snapshots import calendar_snapshot, snapshot_of
from nudge.campaigns.service import enroll
from nudge.core.contact_events import ContactEvent
from nudge.core.ids import delivery_workflow_id
from nudge.core.models import AutomationStep, Campaign, Contact, Rule, Task, utcnow
from nudge.core.vocabulary import WEEKDAYS
from nudge.integrations.subscription_schemas import SubscriptionIn
from nudge.integrations.subscriptions import create_subscription
from nudge.platform.binaries import find_binary
from nudge.platform.db import make_engine, make_session_factory, transaction
from nudge.platform.migrate import upgrade
from nudge.platform.owners import create_owner
from nudge.platform.temporal import DATA_CONVERTER, ensure_search_attributes, use_server_clock
from nudge.recurring.payloads import CadenceChange, RecurringInput
from nudge.recurring.starts import start_or_reshape_recurring
from nudge.rules.events import EventSpec, receive_event
from nudge.sequences.changes import change
from nudge.sequences.definition_schemas import DefinitionIn, EnrollIn
from nudge.sequences.definitions import create_definition
from nudge.sequences.enroll import open_job
from nudge.sequences.payloads import EnrollJobInput
from nudge.sequences.start import schedule_sequence
from nudge.sequences.starts import start_enroll_job
from nudge.tasks.payloads import NewTask
from nudge.tasks.service import complete_task
from nudge.tasks.writer import write_task_once
from tests.receivers import EventReceiver
from worker import build_worker
from workflows.periodic import PeriodicJobWorkflow
from workflows.recurring import RecurringWorkflow
from workflows.rule_firing import RuleFiringWorkflow
from workflows.sequence import SequenceWorkflow
from workflows.time_rule import TimeRuleRunWorkflow

HERE = Path(__file__).parent / "histories"
Scenario = Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]]


async def completes(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=15))


async def paused_and_resumed(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=2))
    await handle.signal(SequenceWorkflow.pause)
    await env.sleep(timedelta(days=3))
    await handle.signal(SequenceWorkflow.resume)
    await env.sleep(timedelta(days=20))


async def stopped_by_reply(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=2))
    await handle.signal(SequenceWorkflow.contact_event, ContactEvent(type="email_replied"))


async def cancelled_by_signal(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=4))
    await handle.signal(SequenceWorkflow.cancel, "not interested")


async def cancelled_in_temporal(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=2))
    await handle.cancel()


async def signals_by_hand(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """Wrong-shaped signals (kept as unread), a good one, then a cancel as the API sends it."""
    await env.sleep(timedelta(days=2))
    await handle.signal("contact_event", {"kind": "email_replied"})
    await handle.signal("pause", args=["now"])
    await handle.signal("pause")
    await env.sleep(timedelta(days=1))
    await handle.signal("resume")
    await handle.cancel(reason="booked a demo")


SCENARIOS: dict[str, Scenario] = {
    "sequence-completes": completes,
    "sequence-paused-and-resumed": paused_and_resumed,
    "sequence-stopped-by-reply": stopped_by_reply,
    "sequence-cancelled-by-signal": cancelled_by_signal,
    "sequence-cancelled-in-temporal": cancelled_in_temporal,
    "sequence-signals-by-hand": signals_by_hand,
}


async def record_rules(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """A firing that writes its task and runs its reminder, and one that is skipped."""
    for name, active_at_fire in (("rule-firing-created", True), ("rule-firing-skipped", False)):
        with transaction(sessions) as session:
            owner, _ = create_owner(session, name)
            contact = Contact(owner_id=owner.id, external_id="r", name="Ada")
            rule = Rule(
                owner_id=owner.id,
                name=name,
                trigger_type="activity",
                trigger_config={"activity_types": ["email_opened"]},
                task_title_template="Follow up with {{contact_name}}",
                task_priority="high",
                delay_hours=2,
                reminder_offset_hours=1,
            )
            session.add_all([contact, rule])
            session.flush()
            owner_id, contact_id, rule_id = owner.id, contact.id, rule.id
        result = await receive_event(
            env.client,
            sessions,
            queue,
            owner_id,
            EventSpec(
                event_id=name,
                kind="activity",
                contact_id=contact_id,
                activity_type="email_opened",
                occurred_at=await env.get_current_time(),
            ),
        )
        if not active_at_fire:
            with transaction(sessions) as session:
                session.get(Rule, rule_id).is_active = False
        await env.sleep(timedelta(hours=2))
        await asyncio.sleep(1)
        firing = env.client.get_workflow_handle_for(
            RuleFiringWorkflow.run, result.firings[0].workflow_id
        )
        outcome = await firing.result()
        await save(name, firing)
        if outcome.task_id:
            reminder = env.client.get_workflow_handle(f"reminder-task-{outcome.task_id}")
            await save("reminder-delivered", reminder)


async def record_recurring(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """Three weekly check-ins, a switch to daily, two more, then a stop."""
    with transaction(sessions) as session:
        owner, _ = create_owner(session, "recurring")
        contact = Contact(owner_id=owner.id, external_id="rc", name="Ada")
        session.add(contact)
        session.flush()
        inp = RecurringInput(owner_id=owner.id, contact_id=contact.id, cadence="weekly")
    handle = await start_or_reshape_recurring(env.client, queue, inp, "Ada")
    await env.sleep(timedelta(weeks=3, hours=1))
    await handle.signal(RecurringWorkflow.change_cadence, CadenceChange(cadence="daily"))
    await env.sleep(timedelta(days=2, hours=1))
    await handle.signal(RecurringWorkflow.stop, "recorded")
    await handle.result()
    await save("recurring-reshaped-and-stopped", handle)


async def record_periodic(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """The overdue sweep over three late tasks, two per page."""
    now = await env.get_current_time()
    with transaction(sessions) as session:
        owner, _ = create_owner(session, "periodic")
        for i in range(3):
            session.add(
                Task(
                    owner_id=owner.id,
                    title=f"late {i}",
                    source="test",
                    due_at=now - timedelta(days=3),
                    idempotency_key=f"periodic-late-{i}",
                )
            )
    handle = await env.client.start_workflow(
        PeriodicJobWorkflow.run,
        args=["escalate_overdue", 2],
        id="periodic-record",
        task_queue=queue,
    )
    await handle.result()
    await save("periodic-overdue-two-pages", handle)

    with transaction(sessions) as session:
        rule = Rule(
            owner_id=owner.id,
            name="time",
            trigger_type="time",
            trigger_config={"cron": "0 9 * * MON", "timezone": "UTC", "contact_filter": {}},
            task_title_template="Call {{contact_name}}",
        )
        session.add_all([rule, Contact(owner_id=owner.id, external_id="t", name="Ada")])
        session.flush()
        rule_id = rule.id
    handle = await env.client.start_workflow(
        TimeRuleRunWorkflow.run, rule_id, id="time-rule-record", task_queue=queue
    )
    await handle.result()
    await save("time-rule-run", handle)

    with transaction(sessions) as session:
        contact = Contact(owner_id=owner.id, external_id="camp", name="Ada")
        campaign = Campaign(owner_id=owner.id, name="record")
        session.add_all([contact, campaign])
        session.flush()
        for order, (kind, days) in enumerate([("task", 0), ("email", 1), ("task", 3)], 1):
            session.add(AutomationStep(campaign_id=campaign.id, order=order, message_type=kind,
                                       name=f"step {order}", delay_days=days))  # fmt: skip
        campaign_id, contact_id = campaign.id, contact.id
    enrolled = await enroll(env.client, sessions, queue, owner.id, campaign_id, [contact_id])
    await env.sleep(timedelta(days=5))
    handle = env.client.get_workflow_handle(enrolled[0].workflow_id)
    await handle.result()
    await save("campaign-enrollment", handle)


async def record_defined(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """A custom sequence with every anchor: a completion, a pause, a live edit adopted; and a
    bulk enrollment of three contacts under a daily limit of two."""
    with transaction(sessions) as session:
        owner, _ = create_owner(session, "defined")
        owner.daily_enrollment_limit = 2
        contacts = [Contact(owner_id=owner.id, external_id=f"d{i}", name="Ada") for i in range(3)]
        session.add_all(contacts)
        session.flush()
        title = "{{ step_number }}/{{ step_count }} {{ contact_name }}"
        body = DefinitionIn.model_validate(
            {
                "name": "recorded",
                "steps": [
                    {"id": "a", "kind": "call", "wait": {"days": 1}, "anchor": "enrollment",
                     "title_template": title},
                    {"id": "b", "kind": "email", "wait": {"days": 1}, "title_template": title},
                    {"id": "c", "kind": "todo", "wait": {"hours": 6},
                     "anchor": "previous_completed", "title_template": title},
                    {"id": "d", "kind": "linkedin", "wait": {"days": 2}, "title_template": title},
                ],
            }
        )  # fmt: skip
        definition_id = create_definition(session, owner.id, body).id
        owner_id, contact_ids = owner.id, [c.id for c in contacts]
    started = await schedule_sequence(
        env.client,
        sessions,
        task_queue=queue,
        owner_id=owner_id,
        contact_id=contact_ids[0],
        definition_id=definition_id,
    )
    handle = env.client.get_workflow_handle(started.workflow_id)
    await env.sleep(timedelta(days=1, hours=1))
    await handle.signal("pause")
    await env.sleep(timedelta(hours=5))
    await handle.signal("resume")
    await env.sleep(timedelta(days=1, hours=6))
    with transaction(sessions) as session:
        task = session.scalars(select(Task).where(Task.kind == "email")).one()
        task_id = task.id
    await handle.signal("task_completed", task_id)
    edited = body.model_copy(update={"steps": [*body.steps[:3], body.steps[3].model_copy(
        update={"wait": body.steps[3].wait.model_copy(update={"days": 3.0})})]})  # fmt: skip
    await change(env.client, sessions, owner_id, definition_id, edited, "future_steps")
    await env.sleep(timedelta(days=5))
    await handle.result()
    await save("defined-sequence-edited", handle)

    job = open_job(
        sessions, owner_id, definition_id, EnrollIn(contact_ids=[*contact_ids[1:], 10**6])
    )
    await start_enroll_job(
        env.client,
        queue,
        EnrollJobInput(job_id=job.id, owner_id=owner_id, definition_id=definition_id),
    )
    job_handle = env.client.get_workflow_handle(job.workflow_id)
    await env.sleep(timedelta(days=1))
    await job_handle.result()
    await save("enroll-job-daily-limit", job_handle)


async def record_calendar(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """Placed due times: a custom sequence of business-day steps in the contact's hours that
    adopts a new calendar halfway, a cadence and a campaign in working hours."""
    with transaction(sessions) as session:
        owner, _ = create_owner(session, "calendar")
        contact = Contact(
            owner_id=owner.id, external_id="cal", name="Ada", timezone="Asia/Tokyo", cadence="daily"
        )
        session.add(contact)
        session.flush()
        save_calendar(
            session,
            owner.id,
            CalendarIn.model_validate(
                {"timezone": "Europe/Berlin", "holidays": {"country": "DE"},
                 "working_hours": {d: [["09:00", "17:00"]] for d in WEEKDAYS[:5]}}
            ),
        )  # fmt: skip
        body = DefinitionIn.model_validate(
            {
                "name": "placed",
                "steps": [
                    {"id": f"s{i}", "wait": {"business_days": 2}, "anchor": "previous_due",
                     "placement": "contact_hours", "title_template": "{{ contact_name }}"}
                    for i in range(3)
                ],
            }
        )  # fmt: skip
        definition_id = create_definition(session, owner.id, body).id
        campaign = Campaign(owner_id=owner.id, name="placed", placement="working_hours")
        session.add(campaign)
        session.flush()
        session.add_all(
            AutomationStep(campaign_id=campaign.id, order=i + 1, message_type="task",
                           name=f"step {i + 1}", delay_days=1)
            for i in range(2)
        )  # fmt: skip
        owner_id, contact_id, campaign_id = owner.id, contact.id, campaign.id
        later = CalendarIn.model_validate(
            {"timezone": "America/New_York",
             "working_hours": {d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu")}}
        )  # fmt: skip
    started = await schedule_sequence(
        env.client,
        sessions,
        task_queue=queue,
        owner_id=owner_id,
        contact_id=contact_id,
        definition_id=definition_id,
    )
    handle = env.client.get_workflow_handle(started.workflow_id)
    recurring = await start_or_reshape_recurring(
        env.client,
        queue,
        RecurringInput(
            owner_id=owner_id,
            contact_id=contact_id,
            cadence="daily",
            placement="working_hours",
            calendar=started_calendar(sessions, owner_id),
        ),
        "Ada",
    )
    enrolled = await enroll(env.client, sessions, queue, owner_id, campaign_id, [contact_id])
    await env.sleep(timedelta(days=3))
    with transaction(sessions) as session:
        row = save_calendar(session, owner_id, later)
        snap = snapshot_of(row, await env.get_current_time())
    assert await adopt_calendar_everywhere(env.client, sessions, owner_id, snap) == 3
    await env.sleep(timedelta(days=10))
    await recurring.signal(RecurringWorkflow.stop, "recorded")
    await handle.result()
    await recurring.result()
    campaign_handle = env.client.get_workflow_handle(enrolled[0].workflow_id)
    await campaign_handle.result()
    await save("defined-sequence-placed", handle)
    await save("recurring-placed", recurring)
    await save("campaign-placed", campaign_handle)


async def record_webhooks(env: WorkflowEnvironment, sessions, queue: str) -> None:  # type: ignore[no-untyped-def]
    """A task's events to a receiver that fails twice, then takes them: created, completed."""
    receiver = EventReceiver()
    receiver.fail = 2
    with transaction(sessions) as session:
        owner, _ = create_owner(session, "webhooks")
        owner_id = owner.id
        sub = create_subscription(
            session,
            owner_id,
            SubscriptionIn(url=receiver.url, event_types=["task.created", "task.completed"]),
        )
        receiver.secret = sub.secret
    hooks_queue = f"{queue}-hooks"  # a worker that may POST to 127.0.0.1
    with ThreadPoolExecutor(4) as pool:
        async with build_worker(
            env.client, sessions, task_queue=hooks_queue, executor=pool, allow_private_webhooks=True
        ):
            due = await env.get_current_time() + timedelta(days=1)
            new = NewTask(
                idempotency_key="record-webhooks",
                owner_id=owner_id,
                contact_id=None,
                source="api",
                title="Recorded",
                due_at=due,
            )
            task_id = write_task_once(sessions, new).task_id
            handle = env.client.get_workflow_handle(delivery_workflow_id(sub.id, task_id))
            await env.sleep(timedelta(minutes=5))
            complete_task(sessions, owner_id, task_id)
            await env.sleep(timedelta(minutes=30))  # idle past IDLE: the run ends
            await handle.result()
    receiver.close()
    assert [e["type"] for e in receiver.events()] == ["task.created", "task.completed"]
    await save("delivery-retried", handle)


def started_calendar(sessions, owner_id: int):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return calendar_snapshot(session, owner_id, utcnow())


async def save(name: str, handle: WorkflowHandle) -> None:
    history = await handle.fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def main(only: set[str]) -> None:
    """Record every history, or (`only`) some groups: sequences, rules, recurring,
    periodic, defined, calendar, webhooks."""
    url = f"sqlite:///{tempfile.mkdtemp()}/record.db"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    await ensure_search_attributes(env.client)
    use_server_clock(env.client, env.get_current_time)  # its clock jumps ahead
    HERE.mkdir(exist_ok=True)
    with ThreadPoolExecutor(16) as pool:
        async with build_worker(env.client, sessions, task_queue="record", executor=pool):
            for i, (name, scenario) in enumerate(SCENARIOS.items()):
                if only and "sequences" not in only:
                    break
                with transaction(sessions) as session:
                    owner, _ = create_owner(session, name)
                    contact = Contact(owner_id=owner.id, external_id=str(i), name="Ada")
                    session.add(contact)
                    session.flush()
                    owner_id, contact_id = owner.id, contact.id
                started = await schedule_sequence(
                    env.client,
                    sessions,
                    task_queue="record",
                    owner_id=owner_id,
                    contact_id=contact_id,
                    sequence_type="standard",
                    start_delay_hours=0,
                )
                handle = env.client.get_workflow_handle(started.workflow_id)
                await scenario(env, handle)
                await asyncio.sleep(0.5)  # let the last activity report
                await save(name, handle)
            groups = {
                "rules": record_rules,
                "recurring": record_recurring,
                "periodic": record_periodic,
                "defined": record_defined,
                "calendar": record_calendar,
                "webhooks": record_webhooks,
            }
            for group, record in groups.items():
                if not only or group in only:
                    await record(env, sessions, "record")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(set(sys.argv[1:])))
