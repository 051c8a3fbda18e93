"""Recurring cadences on the time-skipping server: dates, reshaping, endless runs."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nudge.core.contact_events import ContactEvent
from nudge.core.models import Task
from nudge.recurring.payloads import CadenceChange, RecurringInput, TaskTemplate
from nudge.recurring.starts import start_or_reshape_recurring
from tests.support import poll
from workflows.recurring import RecurringWorkflow


def cadence_tasks(sessions, owner_id: int) -> list[Task]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.scalars(
                select(Task)
                .where(Task.owner_id == owner_id, Task.source.like("cadence:%"))
                .order_by(Task.due_at)
            )
        )


async def count(sessions, owner_id: int) -> int:  # type: ignore[no-untyped-def]
    return len(cadence_tasks(sessions, owner_id))


async def start(time_env, time_worker, tenant, cadence: str, anchor=None, template=None):  # type: ignore[no-untyped-def]
    inp = RecurringInput(
        owner_id=tenant.owner_id,
        contact_id=tenant.contact_id,
        cadence=cadence,
        anchor=anchor,
        template=template or TaskTemplate(),
    )
    return await start_or_reshape_recurring(
        time_env.client, time_worker.task_queue, inp, tenant.contact_name
    )


async def test_weekly_for_ten_weeks_makes_ten_tasks_on_their_dates(
    time_env, time_worker, sessions, tenant
):
    handle = await start(time_env, time_worker, tenant, "weekly")
    anchor = (await handle.describe()).start_time
    await time_env.sleep(timedelta(weeks=10, hours=1))
    await poll(lambda: count(sessions, tenant.owner_id), lambda n: n == 10)
    tasks = cadence_tasks(sessions, tenant.owner_id)
    assert [t.due_at for t in tasks] == [anchor + timedelta(weeks=k) for k in range(1, 11)]
    assert tasks[0].title == "Weekly check-in with Ada Lovelace"
    await handle.signal(RecurringWorkflow.stop, "test over")


async def test_monthly_from_jan_31_keeps_to_month_ends(time_env, time_worker, sessions, tenant):
    now = await time_env.get_current_time()
    anchor = datetime(now.year + 1, 1, 31, 9, 0, tzinfo=UTC)  # 2028 or later: pick a leap year
    while anchor.year % 4:
        anchor = anchor.replace(year=anchor.year + 1)
    handle = await start(time_env, time_worker, tenant, "monthly", anchor=anchor)
    await time_env.sleep(anchor + timedelta(days=91) - now)
    await poll(lambda: count(sessions, tenant.owner_id), lambda n: n == 3)
    dates = [t.due_at.date() for t in cadence_tasks(sessions, tenant.owner_id)]
    y = anchor.year
    assert [(d.year, d.month, d.day) for d in dates] == [(y, 2, 29), (y, 3, 31), (y, 4, 30)]
    await handle.signal(RecurringWorkflow.stop)


async def test_change_cadence_reshapes_the_dates(time_env, time_worker, sessions, tenant):
    handle = await start(time_env, time_worker, tenant, "weekly")
    await time_env.sleep(timedelta(weeks=2, hours=1))
    await poll(lambda: count(sessions, tenant.owner_id), lambda n: n == 2)
    changed_at = await time_env.get_current_time()
    again = await start(time_env, time_worker, tenant, "daily")  # signal-with-start reshapes
    assert again.id == handle.id
    await time_env.sleep(timedelta(days=3, hours=1))
    await poll(lambda: count(sessions, tenant.owner_id), lambda n: n == 5)
    tasks = cadence_tasks(sessions, tenant.owner_id)
    daily = [t.due_at - changed_at for t in tasks[2:]]
    assert [round(d / timedelta(days=1)) for d in daily] == [1, 2, 3]
    assert tasks[2].title == "Daily check-in with Ada Lovelace"
    await handle.signal(RecurringWorkflow.change_cadence, CadenceChange(cadence="daily"))  # no-op
    await handle.signal(RecurringWorkflow.contact_event, ContactEvent(type="x", status="lost"))
    progress = await poll(
        lambda: handle.query(RecurringWorkflow.progress), lambda p: p.state == "stopped"
    )
    assert progress.stop_reason == "contact status changed to lost"


async def test_five_hundred_daily_cycles_continue_as_new(time_env, time_worker, sessions, tenant):
    handle = await start(
        time_env, time_worker, tenant, "daily", template=TaskTemplate(title="Ping {{contact_name}}")
    )
    await time_env.sleep(timedelta(days=500, hours=1))
    assert await poll(lambda: count(sessions, tenant.owner_id), lambda n: n == 500, 60) == 500
    tasks = cadence_tasks(sessions, tenant.owner_id)
    assert len({t.idempotency_key for t in tasks}) == 500
    current = time_env.client.get_workflow_handle(handle.id)
    desc = await current.describe()
    assert desc.run_id != handle.result_run_id  # it has continued as new
    assert desc.history_length < 1000  # and the current run's history stays small
    await current.signal(RecurringWorkflow.stop)
