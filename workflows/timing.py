"""Durable waiting to a moment, and placing a due time by the calendar a workflow holds,
shared by the workflows."""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from nudge.calendar.payloads import PlaceRequest
    from nudge.calendar.timing import Placed
    from workflows.policies import WRITE_RETRY, WRITE_TIMEOUT


async def sleep_until(when: datetime, summary: str) -> None:
    """One timer to `when`; none at all if it has already passed."""
    wait = (when - workflow.now()).total_seconds()
    if wait > 0:
        await workflow.sleep(wait, summary=summary)


async def place_due(req: PlaceRequest, summary: str) -> Placed:
    """Zones and holidays are looked up in an activity: its answer is in the history, so the
    due time can't move on replay when tz data or the holidays package changes."""
    return await workflow.execute_activity_method(
        CalendarActivities.place_due,
        req,
        start_to_close_timeout=WRITE_TIMEOUT,
        retry_policy=WRITE_RETRY,
        summary=summary,
    )
