"""Scheduled task batches and their progress, counted by SQL over the tasks table."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from api.deps import OwnerDep, SessionDep
from api.pagination import equal_to, page
from api.params import IdPath, Limit, Offset, OptionalId
from nudge.errors import NotFound
from nudge.models import BatchStatus, Task, TaskBatch, TaskStatus
from nudge.schemas import BatchOut, Page
from nudge.schemas import BatchStatus as BatchStatusName

router = APIRouter(prefix="/api/task-automation/batches", tags=["batches"])


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
                    func.sum(case((Task.status == TaskStatus.completed, 1), else_=0)).label(
                        "completed"
                    ),
                    func.sum(case((Task.status == TaskStatus.cancelled, 1), else_=0)).label(
                        "cancelled"
                    ),
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
        expected = b.planned if b.status == BatchStatus.running else created
        done = completed + cancelled
        percent = 100 if expected == 0 else round(100 * done / expected)
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


BatchKind = Literal["sequence", "campaign"]
BatchSort = Literal["-created_at", "created_at", "name", "-name", "status", "-status"]
SORTS = {
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


@router.get("/", response_model=Page[BatchOut])
def list_batches(
    owner: OwnerDep,
    session: SessionDep,
    kind: BatchKind | None = None,
    status: BatchStatusName | None = None,
    contact_id: OptionalId = None,
    sort: Annotated[
        BatchSort, Query(description="A field, `-` first for descending; newest first by default.")
    ] = "-created_at",
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Your batches with progress: planned / created / completed / cancelled and percent.
    Filter by `kind`, `status` and `contact_id`; `total` counts what the filters match."""
    where = batch_filters(owner.id, kind, status, contact_id)
    batches, total = page(session, TaskBatch, where, SORTS[sort], limit, offset)
    return {"items": batch_rows(session, batches), "total": total}


@router.get("/{batch_id}/", response_model=BatchOut, responses={404: {}})
def get_batch(batch_id: IdPath, owner: OwnerDep, session: SessionDep) -> BatchOut:
    batch = session.scalar(
        select(TaskBatch).where(TaskBatch.id == batch_id, TaskBatch.owner_id == owner.id)
    )
    if batch is None:
        raise NotFound(f"batch {batch_id} not found")
    return batch_rows(session, [batch])[0]
