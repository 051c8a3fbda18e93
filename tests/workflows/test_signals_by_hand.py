"""Signals sent by hand (`temporal workflow signal`, the Temporal UI) with the wrong shape, on
the time-skipping server: each is kept in the workflow's progress as unread, with what was
wrong, and the workflow carries on as if it never came. Sent here through the client by name
with raw JSON values, as the CLI sends them."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from nudge.campaigns.payloads import EnrollmentProgress
from nudge.core.contact_events import ContactEvent
from nudge.core.signals import UNREAD_KEPT
from nudge.recurring.payloads import RecurringProgress
from nudge.sequences.payloads import SequenceProgress
from nudge.sequences.starts import signal_sequence
from tests.support import auth, poll
from workflows.campaign import CampaignEnrollmentWorkflow
from workflows.recurring import RecurringWorkflow
from workflows.sequence import SequenceWorkflow

from .helpers import batch, finish, schedule, tasks_of
from .test_campaign import enroll
from .test_campaign import start as start_enrollment
from .test_recurring import count as cadence_count
from .test_recurring import start as start_recurring


async def test_wrong_shaped_sequence_signals_are_unread_and_change_nothing(
    api, time_env, time_worker, sessions, tenant
):
    resp = await api.post(
        "/api/task-automation/schedule-sequence/",
        json={"contact_id": tenant.contact_id, "sequence_type": "standard"},
        headers=auth(tenant),
    )
    assert resp.status_code == 201, resp.text
    wf, batch_id = resp.json()["workflow_id"], resp.json()["batch_id"]
    handle = time_env.client.get_workflow_handle_for(SequenceWorkflow.run, wf)
    start = (await handle.describe()).start_time

    await handle.signal("contact_event", {"kind": "email_replied"})  # a misspelt field
    await handle.signal("contact_event", {"status": "lost"})  # no type
    await handle.signal("contact_event", "email_replied")  # not an object
    await handle.signal("pause", args=["now", "please"])  # pause takes no input
    await handle.signal("cancel", {"reason": "not interested"})  # the reason is a plain string

    progress: SequenceProgress = await handle.query(SequenceWorkflow.progress)
    assert (progress.state, progress.stop_reason) == ("running", None)
    assert [(u.name, u.reason) for u in progress.unread_signals] == [
        ("contact_event", "unknown field(s) kind; the fields are type, status"),
        ("contact_event", "type: Field required"),
        ("contact_event", "takes one JSON object with fields type, status; got a JSON string"),
        ("pause", "takes no input, got 2 value(s); send it without --input"),
        (
            "cancel",
            "takes one optional JSON string, the reason, e.g. --input '\"not interested\"'",
        ),
    ]
    assert all(u.received_at >= start for u in progress.unread_signals)

    # The API shows them too.
    body = (await api.get(f"/api/task-automation/sequences/{wf}/", headers=auth(tenant))).json()
    assert body["state"] == "running"
    assert [u["name"] for u in body["unread_signals"]] == [
        "contact_event",
        "contact_event",
        "contact_event",
        "pause",
        "cancel",
    ]
    assert body["unread_signals"][1]["reason"] == "type: Field required"

    # It carries on: the day-1 task comes, and a well-shaped reply still stops it.
    await time_env.sleep(timedelta(days=1, hours=1))
    assert await poll(lambda: _count(sessions, batch_id), lambda n: n == 1) == 1
    await handle.signal("contact_event", {"type": "email_replied"})
    result: SequenceProgress = await finish(time_env, handle)
    assert (result.state, result.stop_reason) == ("stopped", "contact event: email_replied")
    assert len(result.unread_signals) == 5
    assert batch(sessions, batch_id).status == "stopped"


async def _count(sessions, batch_id: int) -> int:  # type: ignore[no-untyped-def]
    return len(tasks_of(sessions, batch_id))


async def test_only_the_newest_unread_signals_are_kept(time_env, time_worker, sessions, tenant):
    _, handle = await schedule(time_env, time_worker, sessions, tenant, "gentle")
    for i in range(UNREAD_KEPT + 3):
        await handle.signal("resume", i)
    progress: SequenceProgress = await handle.query(SequenceWorkflow.progress)
    assert len(progress.unread_signals) == UNREAD_KEPT
    assert {u.reason for u in progress.unread_signals} == {
        "takes no input, got 1 value(s); send it without --input"
    }
    await handle.signal(SequenceWorkflow.cancel, "test over")
    assert (await finish(time_env, handle)).state == "cancelled"


async def test_wrong_shaped_recurring_signals_are_unread(time_env, time_worker, sessions, tenant):
    handle = await start_recurring(time_env, time_worker, tenant, "weekly")
    await handle.signal("change_cadence", {"cadence": "fortnightly"})
    await handle.signal("stop", 42)
    await handle.signal("contact_event", {"type": "status_change", "new_status": "lost"})
    progress: RecurringProgress = await handle.query(RecurringWorkflow.progress)
    assert (progress.state, progress.cadence) == ("running", "weekly")
    reasons = {u.name: u.reason for u in progress.unread_signals}
    assert reasons["change_cadence"].startswith("cadence: Input should be 'daily'")
    assert reasons["stop"].startswith("takes one optional JSON string, the reason")
    assert reasons["contact_event"] == "unknown field(s) new_status; the fields are type, status"
    await time_env.sleep(timedelta(weeks=1, hours=1))
    assert await poll(lambda: cadence_count(sessions, tenant.owner_id), lambda n: n == 1) == 1
    await handle.signal("stop", "test over")
    result: RecurringProgress = await handle.result()
    assert (result.state, result.stop_reason) == ("stopped", "test over")


async def test_a_wrong_shaped_contact_event_leaves_an_enrollment_running(
    time_env, time_worker, sessions, tenant
):
    enrolled = enroll(sessions, tenant)
    handle = await start_enrollment(time_env, time_worker, enrolled)
    await handle.signal("contact_event", [{"type": "email_replied"}])
    progress: EnrollmentProgress = await handle.query(CampaignEnrollmentWorkflow.progress)
    assert progress.state == "running"
    assert [(u.name, u.reason) for u in progress.unread_signals] == [
        ("contact_event", "takes one JSON object with fields type, status; got a JSON array")
    ]
    await handle.signal(
        CampaignEnrollmentWorkflow.contact_event, ContactEvent(type="email_replied")
    )
    result: EnrollmentProgress = await handle.result()
    assert (result.state, len(result.unread_signals)) == ("stopped", 1)


async def test_a_sequence_cancelled_through_the_api_reads_canceled_in_temporal(
    time_env, time_worker, sessions, tenant
):
    scheduled, handle = await schedule(time_env, time_worker, sessions, tenant, "standard")
    await time_env.sleep(timedelta(days=1, hours=1))
    assert await signal_sequence(time_env.client, scheduled.workflow_id, "cancel", "booked a demo")
    with pytest.raises(WorkflowFailureError):
        await finish(time_env, handle)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    saved = batch(sessions, scheduled.batch_id)
    assert (saved.status, saved.stop_reason) == ("cancelled", "booked a demo")
    assert len(tasks_of(sessions, scheduled.batch_id)) == 1
    # Once it has ended there is nothing to cancel.
    assert not await signal_sequence(time_env.client, scheduled.workflow_id, "cancel", "again")
