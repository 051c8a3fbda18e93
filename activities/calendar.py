"""Placing due times for workflows: the timing function, run where zones and holidays may be
looked up; its answer is kept in the workflow's history, so a replay never looks again."""

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nudge.calendar.closures import with_years
from nudge.calendar.payloads import PlaceRequest
from nudge.calendar.placing import place_or_raw
from nudge.calendar.snapshots import calendar_snapshot
from nudge.calendar.timing import Placed
from nudge.core.models import Contact


class CalendarActivities:
    """Sync activities (run in the worker's thread pool) over one session factory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @activity.defn
    def place_due(self, req: PlaceRequest) -> Placed:
        """The due time by the workflow's calendar snapshot (the owner's current one if it
        has none), the contact's zone as it is now and (best_time) their engagement."""
        with self.sessions() as session:
            contact = session.get(Contact, req.contact_id)
            if contact is not None and contact.owner_id != req.owner_id:
                contact = None
            calendar = req.calendar or calendar_snapshot(session, req.owner_id, req.anchor)
            # Holidays of a year the snapshot doesn't hold yet (a cadence running for years)
            # are resolved now; this answer is in the history, so replay never looks again.
            calendar = with_years(calendar, range(req.anchor.year, req.anchor.year + 2))
            return place_or_raw(
                session,
                contact,
                req.anchor,
                req.wait,
                req.placement,
                calendar,
                datetime.now(UTC),
            )
