"""An owner's open tasks as an RFC 5545 calendar (one VEVENT per task, a VALARM at its
reminder), for any calendar app to subscribe to by the feed's secret URL."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from icalendar import Alarm, Event
from icalendar import Calendar as ICalendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from nudge.core.models import Task

# RFC 5545 PRIORITY: 1 is the highest, 9 the lowest.
ICS_PRIORITY: Final = {"urgent": 1, "high": 3, "medium": 5, "low": 9}
EVENT_LENGTH: Final = timedelta(minutes=15)
# A feed is fetched every few minutes by calendar apps: the open tasks due from a month ago
# on, soonest first, at most this many.
MAX_EVENTS: Final = 2000
LOOKBACK: Final = timedelta(days=30)


def open_tasks(session: Session, owner_id: int, now: datetime) -> list[Task]:
    return list(
        session.scalars(
            select(Task)
            .where(
                Task.owner_id == owner_id,
                Task.status == "open",
                Task.due_at >= now - LOOKBACK,
            )
            .order_by(Task.due_at, Task.id)
            .limit(MAX_EVENTS)
        )
    )


def build_feed(owner_name: str, tasks: Iterable[Task], now: datetime) -> bytes:
    cal = ICalendar()
    cal.add("prodid", "-//Nudge//Open tasks//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Nudge tasks: {owner_name}")
    for task in tasks:
        due = task.due_at.astimezone(UTC)
        event = Event()
        event.add("uid", f"task-{task.id}@nudge")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", due)
        event.add("dtend", due + EVENT_LENGTH)
        event.add("summary", task.title)
        if task.description:
            event.add("description", task.description)
        event.add("priority", ICS_PRIORITY.get(task.priority, 5))
        event.add("status", "CONFIRMED")
        if task.kind:
            event.add("categories", [task.kind])
        if task.reminder_at is not None:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"Reminder: {task.title}")
            alarm.add("trigger", task.reminder_at.astimezone(UTC) - due)  # before DTSTART
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()
