"""Bulk enrollment: one request puts up to 10,000 contacts into a sequence, worked through by
a Temporal workflow a page at a time (never in the request). Each contact is one row with its
outcome, written once, so a retried page or a re-sent request enrolls nobody twice; an owner's
`daily_enrollment_limit` holds the rest for the next days, in order."""

import hashlib
import json
from datetime import date
from typing import Final, NamedTuple

from anyio import to_thread
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.core.errors import NotFound, Unprocessable
from nudge.core.ids import enroll_job_workflow_id
from nudge.core.models import Contact, EnrollJob, EnrollJobItem, Owner, utcnow
from nudge.core.vocabulary import EnrollOutcome
from nudge.platform.db import transaction
from nudge.sequences.definition_schemas import BulkEnrollIn
from nudge.sequences.definitions import one_writer, visible_definition
from nudge.sequences.payloads import EnrollJobInput
from nudge.sequences.starts import start_enroll_job

MAX_CONTACTS: Final = 10_000  # per job, as contact_ids or a filter
PAGE: Final = 100  # contacts started per activity
SHOWN: Final = 100  # skipped / failed contacts listed in a job's answer


def open_job(
    sessions: sessionmaker[Session], owner_id: int, definition_id: int, body: BulkEnrollIn
) -> EnrollJob:
    """The job's row; its contacts are resolved by the workflow's first activity. A filter
    matching more contacts than a job takes is a 422 here, not a silent cut."""
    request = body.model_dump(exclude_none=True)
    with transaction(sessions) as session:
        one_writer(session, owner_id)  # not deleted before the job's row is written
        visible_definition(session, owner_id, definition_id)
        if "filter" in request:
            matched = session.scalar(
                select(func.count()).where(*_matching(owner_id, request["filter"]))
            )
            if (matched or 0) > MAX_CONTACTS:
                raise Unprocessable(
                    f"filter: it matches {matched:,} contacts and a job takes at most "
                    f"{MAX_CONTACTS:,}; narrow it (status and cadence) or send contact_ids "
                    "in several requests"
                )
        job = EnrollJob(
            owner_id=owner_id,
            definition_id=definition_id,
            workflow_id="",
            request=request,
            request_key=request_key(definition_id, request),
        )
        session.add(job)
        session.flush()
        job.workflow_id = enroll_job_workflow_id(job.id)
        session.flush()  # before expunge, which would drop the change
        session.expunge(job)
        return job


async def start_job(
    client: Client,
    sessions: sessionmaker[Session],
    task_queue: str,
    owner_id: int,
    definition_id: int,
    body: BulkEnrollIn,
) -> int:
    """Open the job's row and start its workflow (the row goes again if the start fails);
    the job's id. The API and the page both enroll in bulk through here."""
    job = await to_thread.run_sync(open_job, sessions, owner_id, definition_id, body)
    try:
        inp = EnrollJobInput(job_id=job.id, owner_id=owner_id, definition_id=definition_id)
        await start_enroll_job(client, task_queue, inp)
    except BaseException:
        await to_thread.run_sync(drop_job, sessions, job.id)
        raise
    return job.id


def request_key(definition_id: int, request: dict) -> str:
    """The same request again (same definition, contacts or filter, delay) has the same key."""
    canonical = json.dumps([definition_id, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _matching(owner_id: int, wanted: dict) -> list[ColumnElement[bool]]:
    where = [Contact.owner_id == owner_id]
    if "status" in wanted:
        where.append(Contact.status == wanted["status"])
    if "cadence" in wanted:
        where.append(Contact.cadence == wanted["cadence"])
    return where


def drop_job(sessions: sessionmaker[Session], job_id: int) -> None:
    with transaction(sessions) as session:
        job = session.get(EnrollJob, job_id)
        if job is not None:
            session.delete(job)


def prepare(sessions: sessionmaker[Session], job_id: int) -> int:
    """Write one pending row per contact, in the order asked (a filter: by id); again is a
    no-op. Contacts of another owner or unknown ids are rows too: skipped, saying why; so
    are contacts the same request (an earlier job with its key) already enrolled, even if
    their sequence has ended since: sending a request again enrolls nobody twice."""
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
            query = select(Contact.id).where(*_matching(job.owner_id, request.get("filter", {})))
            ids = session.scalars(query.order_by(Contact.id).limit(MAX_CONTACTS))
            rows = [
                EnrollJobItem(
                    job_id=job_id, owner_id=job.owner_id, contact_id=c, ordinal=i, outcome="pending"
                )
                for i, c in enumerate(ids)
            ]
        _enrolled_before(session, job, rows)
        session.add_all(rows)
        job.total = len(rows)
        return job.total


def _enrolled_before(session: Session, job: EnrollJob, rows: list[EnrollJobItem]) -> None:
    earlier = dict(
        session.execute(
            select(EnrollJobItem.contact_id, func.min(EnrollJobItem.job_id))
            .join(EnrollJob, EnrollJob.id == EnrollJobItem.job_id)
            .where(
                EnrollJob.owner_id == job.owner_id,
                EnrollJob.definition_id == job.definition_id,
                EnrollJob.request_key == job.request_key,
                EnrollJob.id != job.id,
                EnrollJobItem.outcome == "enrolled",
            )
            .group_by(EnrollJobItem.contact_id)
        ).all()
    )
    for row in rows:
        if row.outcome == "pending" and row.contact_id in earlier:
            row.outcome = "already_enrolled"
            row.reason = f"enrolled by the same request in job {earlier[row.contact_id]}"


def quota(session: Session, owner_id: int, day: date) -> int | None:
    """How many more the owner may enroll on `day`; None without a limit. Contacts reserved
    for that day by a page in flight count as used."""
    limit = session.scalar(select(Owner.daily_enrollment_limit).where(Owner.id == owner_id))
    if limit is None:
        return None
    used = session.scalar(
        select(func.count()).where(
            EnrollJobItem.owner_id == owner_id,
            EnrollJobItem.day == day.isoformat(),
            EnrollJobItem.outcome.in_(("enrolled", "pending")),
        )
    )
    return max(0, limit - (used or 0))


def reserve(sessions: sessionmaker[Session], job_id: int, day: date) -> list[int]:
    """The next page's contacts, each reserved for `day` under the owner's lock, so two jobs
    of one owner never pass its daily limit together. Contacts reserved by an attempt that
    didn't finish (a retried page) come first, whatever day they were reserved for."""
    with transaction(sessions) as session:
        job = session.get(EnrollJob, job_id)
        if job is None:
            return []
        one_writer(session, job.owner_id)
        waiting = (EnrollJobItem.job_id == job_id, EnrollJobItem.outcome == "pending")
        reserved = list(
            session.scalars(
                select(EnrollJobItem.contact_id)
                .where(*waiting, EnrollJobItem.day.isnot(None))
                .order_by(EnrollJobItem.ordinal)
            )
        )
        room = quota(session, job.owner_id, day)
        size = PAGE - len(reserved) if room is None else min(PAGE - len(reserved), room)
        more = list(
            session.scalars(
                select(EnrollJobItem.id)
                .where(*waiting, EnrollJobItem.day.is_(None))
                .order_by(EnrollJobItem.ordinal)
                .limit(max(0, size))
            )
        )
        if more:
            session.execute(
                update(EnrollJobItem).where(EnrollJobItem.id.in_(more)).values(day=day.isoformat())
            )
            reserved += list(
                session.scalars(
                    select(EnrollJobItem.contact_id)
                    .where(EnrollJobItem.id.in_(more))
                    .order_by(EnrollJobItem.ordinal)
                )
            )
        return reserved


def limit_reached(sessions: sessionmaker[Session], job_id: int, day: date) -> bool:
    """The owner's daily limit is used up for `day` while this job still has contacts."""
    with sessions() as session:
        job = session.get(EnrollJob, job_id)
        return job is not None and quota(session, job.owner_id, day) == 0


class Settled(NamedTuple):
    contact_id: int
    outcome: EnrollOutcome
    reason: str | None
    batch_id: int | None


def settle(sessions: sessionmaker[Session], job_id: int, settled: list[Settled], day: date) -> None:
    """Write a page's outcomes, once each (a row already settled stays as it was). An
    enrolled contact keeps the day it was reserved for (`day` if it had none); any other
    outcome frees it for someone else."""
    with transaction(sessions) as session:
        for one in settled:
            values: dict[str, object] = {
                "outcome": one.outcome,
                "reason": one.reason[:500] if one.reason else None,
                "batch_id": one.batch_id,
            }
            if one.outcome != "enrolled":
                values["day"] = None
            session.execute(
                update(EnrollJobItem)
                .where(
                    EnrollJobItem.job_id == job_id,
                    EnrollJobItem.contact_id == one.contact_id,
                    EnrollJobItem.outcome == "pending",
                )
                .values(**values)
            )
            if one.outcome == "enrolled":
                session.execute(
                    update(EnrollJobItem)
                    .where(
                        EnrollJobItem.job_id == job_id,
                        EnrollJobItem.contact_id == one.contact_id,
                        EnrollJobItem.day.is_(None),
                    )
                    .values(day=day.isoformat())
                )


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
