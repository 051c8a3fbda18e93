"""Batches of every kind (sequence runs, campaign enrollments) with their progress, counted
by SQL over the tasks table: as the API and the web page list them."""

from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from nudge.core.models import Task, TaskBatch
from nudge.platform.listing import equal_to
from nudge.tasks.schemas import BatchOut


def batch_rows(session: Session, batches: list[TaskBatch]) -> list[BatchOut]:
    """Attach created/completed/cancelled counts to batches in one grouped query."""
    ids = [b.id for b in batches]
    counts = (
        {
            row.batch_id: row
            for row in session.execute(
                select(
                    Task.batch_id,
                    func.count().label("created"),
                    func.sum(case((Task.status == "completed", 1), else_=0)).label("completed"),
                    func.sum(case((Task.status == "cancelled", 1), else_=0)).label("cancelled"),
                )
                .where(Task.batch_id.in_(ids))
                .group_by(Task.batch_id)
            )
        }
        if ids
        else {}
    )
    out = []
    for b in batches:
        row = counts.get(b.id)
        created, completed, cancelled = (
            (row.created, int(row.completed), int(row.cancelled)) if row else (0, 0, 0)
        )
        percent = batch_percent(b.status, b.planned, completed + cancelled)
        out.append(
            BatchOut(
                id=b.id,
                kind=b.kind,
                name=b.name,
                contact_id=b.contact_id,
                workflow_id=b.workflow_id,
                status=b.status,
                stop_reason=b.stop_reason,
                planned=b.planned,
                created=created,
                completed=completed,
                cancelled=cancelled,
                percent=percent,
                created_at=b.created_at,
                finished_at=b.finished_at,
            )
        )
    return out


def batch_percent(status: str, planned: int, done: int) -> int:
    """Tasks done of those planned, whether or not the batch ran to its end: one stopped
    after 1 of 4 reads 25, never 100 (its status and stop_reason say why it ended)."""
    if planned == 0:  # a campaign without task steps: nothing to do once it has ended
        return 0 if status == "running" else 100
    return min(100, round(100 * done / planned))


BatchSort = Literal["-created_at", "created_at", "name", "-name", "status", "-status"]
SORTS: Final[dict[BatchSort, list[ColumnElement[Any] | QueryableAttribute[Any]]]] = {
    "-created_at": [TaskBatch.id.desc()],
    "created_at": [TaskBatch.id],
    "name": [TaskBatch.name, TaskBatch.id],
    "-name": [TaskBatch.name.desc(), TaskBatch.id.desc()],
    "status": [TaskBatch.status, TaskBatch.id.desc()],
    "-status": [TaskBatch.status.desc(), TaskBatch.id.desc()],
}


def batch_filters(
    owner_id: int,
    kind: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
) -> list[ColumnElement[bool]]:
    return equal_to(TaskBatch, owner_id=owner_id, kind=kind, status=status, contact_id=contact_id)
