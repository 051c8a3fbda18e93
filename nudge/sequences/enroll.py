"""Bulk enrollment: one request puts up to 10,000 contacts into a sequence, worked through by
a Temporal workflow a page at a time (never in the request). Each contact is one row with its
outcome, written once, so a retried page or a re-sent request enrolls nobody twice; an owner's
`daily_enrollment_limit` holds the rest for the next days, in order."""

from datetime import date
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.errors import NotFound
from nudge.core.ids import enroll_job_workflow_id
from nudge.core.models import Contact, EnrollJob, EnrollJobItem, Owner, TaskBatch, utcnow
from nudge.core.vocabulary import EnrollOutcome
from nudge.platform.db import transaction
from nudge.sequences.definitions import one_writer, visible_definition
from nudge.sequences.schemas import BulkEnrollIn

MAX_CONTACTS: Final = 10_000  # per job, as contact_ids or a filter
PAGE: Final = 100  # contacts started per activity
SHOWN: Final = 100  # skipped / failed contacts listed in a job's answer


def open_job(
    sessions: sessionmaker[Session], owner_id: int, definition_id: int, body: BulkEnrollIn
) -> EnrollJob:
    """The job's row; its contacts are resolved by the workflow's first activity."""
    with transaction(sessions) as session:
        one_writer(session, owner_id)  # not deleted before the job's row is written
        visible_definition(session, owner_id, definition_id)
        job = EnrollJob(
            owner_id=owner_id,
            definition_id=definition_id,
            workflow_id="",
            request=body.model_dump(exclude_none=True),
        )
        session.add(job)
        session.flush()
        job.workflow_id = enroll_job_workflow_id(job.id)
        session.expunge(job)
        return job


def drop_job(sessions: sessionmaker[Session], job_id: int) -> None:
    with transaction(sessions) as session:
        job = session.get(EnrollJob, job_id)
        if job is not None:
            session.delete(job)


def prepare(sessions: sessionmaker[Session], job_id: int) -> int:
    """Write one pending row per contact, in the order asked (a filter: by id); again is a
    no-op. Contacts of another owner or unknown ids are rows too: skipped, saying why."""
    with transaction(sessions) as session:
        job = session.get(EnrollJob, job_id)
        if job is None:
            return 0
        if session.scalar(select(func.count()).where(EnrollJobItem.job_id == job_id)):
            return job.total
        request = job.request
        if "contact_ids" in request:
            wanted: list[int] = request["contact_ids"]
            mine = set(
                session.scalars(
                    select(Contact.id).where(
                        Contact.owner_id == job.owner_id, Contact.id.in_(wanted)
                    )
                )
            )
            rows = [
                EnrollJobItem(
                    job_id=job_id,
                    owner_id=job.owner_id,
                    contact_id=contact_id,
                    ordinal=i,
                    outcome="pending" if contact_id in mine else "skipped",
                    reason=None if contact_id in mine else "no such contact of yours",
                )
                for i, contact_id in enumerate(wanted)
            ]
        else:
            where = [Contact.owner_id == job.owner_id]
            wanted_filter = request.get("filter", {})
            if "status" in wanted_filter:
                where.append(Contact.status == wanted_filter["status"])
            if "cadence" in wanted_filter:
                where.append(Contact.cadence == wanted_filter["cadence"])
            ids = session.scalars(
                select(Contact.id).where(*where).order_by(Contact.id).limit(10_000)
            )
            rows = [
                EnrollJobItem(job_id=job_id, owner_id=job.owner_id, contact_id=c, ordinal=i)
                for i, c in enumerate(ids)
            ]
        session.add_all(rows)
        job.total = len(rows)
        return job.total


def quota(session: Session, owner_id: int, day: date) -> int | None:
    """How many more the owner may enroll today; None without a limit."""
    limit = session.scalar(select(Owner.daily_enrollment_limit).where(Owner.id == owner_id))
    if limit is None:
        return None
    used = session.scalar(
        select(func.count()).where(
            EnrollJobItem.owner_id == owner_id,
            EnrollJobItem.day == day.isoformat(),
            EnrollJobItem.outcome == "enrolled",
        )
    )
    return max(0, limit - (used or 0))


def next_items(sessions: sessionmaker[Session], job_id: int, day: date) -> tuple[list[int], bool]:
    """The next page's contacts, and whether the daily limit cut it short."""
    with sessions() as session:
        job = session.get(EnrollJob, job_id)
        if job is None:
            return [], False
        room = quota(session, job.owner_id, day)
        size = PAGE if room is None else min(PAGE, room)
        contacts = list(
            session.scalars(
                select(EnrollJobItem.contact_id)
                .where(EnrollJobItem.job_id == job_id, EnrollJobItem.outcome == "pending")
                .order_by(EnrollJobItem.ordinal)
                .limit(size)
            )
        )
        limited = room is not None and room < PAGE and len(contacts) == room
        return contacts, limited


def settle(
    sessions: sessionmaker[Session],
    job_id: int,
    contact_id: int,
    outcome: EnrollOutcome,
    *,
    reason: str | None = None,
    batch_id: int | None = None,
    day: date | None = None,
) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(EnrollJobItem)
            .where(
                EnrollJobItem.job_id == job_id,
                EnrollJobItem.contact_id == contact_id,
                EnrollJobItem.outcome == "pending",
            )
            .values(
                outcome=outcome,
                reason=reason[:500] if reason else None,
                batch_id=batch_id,
                day=day.isoformat() if day else None,
            )
        )


def batch_of_job(sessions: sessionmaker[Session], batch_id: int, job_id: int) -> bool:
    """Did this job open that batch (a retried page meets its own earlier start)?"""
    with sessions() as session:
        params = session.scalar(select(TaskBatch.params).where(TaskBatch.id == batch_id))
    return bool(params and params.get("enroll_job_id") == job_id)


def pending(sessions: sessionmaker[Session], job_id: int) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    EnrollJobItem.job_id == job_id, EnrollJobItem.outcome == "pending"
                )
            )
            or 0
        )


def set_status(
    sessions: sessionmaker[Session], job_id: int, status: str, detail: str | None
) -> None:
    with transaction(sessions) as session:
        values: dict = {"status": status, "detail": detail}
        if status in ("completed", "failed"):
            values["finished_at"] = utcnow()
        session.execute(update(EnrollJob).where(EnrollJob.id == job_id).values(**values))


def job_report(session: Session, owner_id: int, definition_id: int, job_id: int) -> dict:
    """The job as its answer shows it: counts by outcome, the first skipped and failed."""
    job = session.get(EnrollJob, job_id)
    if job is None or job.owner_id != owner_id or job.definition_id != definition_id:
        raise NotFound(f"enrollment job {job_id} of definition {definition_id} not found")
    counts = dict(
        session.execute(
            select(EnrollJobItem.outcome, func.count())
            .where(EnrollJobItem.job_id == job_id)
            .group_by(EnrollJobItem.outcome)
        ).all()
    )

    def listed(outcome: str) -> list[dict]:
        rows = session.execute(
            select(EnrollJobItem.contact_id, EnrollJobItem.reason)
            .where(EnrollJobItem.job_id == job_id, EnrollJobItem.outcome == outcome)
            .order_by(EnrollJobItem.ordinal)
            .limit(SHOWN)
        )
        return [{"contact_id": r.contact_id, "reason": r.reason} for r in rows]

    return {
        "job_id": job.id,
        "definition_id": job.definition_id,
        "status": job.status,
        "total": job.total,
        "enrolled": counts.get("enrolled", 0),
        "already_enrolled": counts.get("already_enrolled", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "pending": counts.get("pending", 0),
        "detail": job.detail,
        "skipped_contacts": listed("skipped"),
        "failed_contacts": listed("failed"),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "workflow_id": job.workflow_id,
    }
