"""Scheduled task batches and their progress, counted by SQL over the tasks table."""

from fastapi import APIRouter
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from api.deps import OwnerDep, SessionDep
from api.pagination import page
from api.params import IdPath, Limit, Offset
from nudge.errors import NotFound
from nudge.models import BatchStatus, Task, TaskBatch, TaskStatus
from nudge.schemas import BatchOut, Page

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


@router.get("/", response_model=Page[BatchOut])
def list_batches(
    owner: OwnerDep,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Your batches, newest first, with progress."""
    batches, total = page(
        session, TaskBatch, [TaskBatch.owner_id == owner.id], [TaskBatch.id.desc()], limit, offset
    )
    return {"items": batch_rows(session, batches), "total": total}


@router.get("/{batch_id}/", response_model=BatchOut, responses={404: {}})
def get_batch(batch_id: IdPath, owner: OwnerDep, session: SessionDep) -> BatchOut:
    batch = session.scalar(
        select(TaskBatch).where(TaskBatch.id == batch_id, TaskBatch.owner_id == owner.id)
    )
    if batch is None:
        raise NotFound(f"batch {batch_id} not found")
    return batch_rows(session, [batch])[0]
