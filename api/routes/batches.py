"""Scheduled task batches and their progress, counted by SQL over the tasks table."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.boundary import JsonBoundaryRoute
from api.deps import OwnerDep, SessionDep
from api.params import IdPath, Limit, Offset, OptionalId
from nudge.core.errors import NotFound
from nudge.core.models import TaskBatch
from nudge.core.types import Page
from nudge.core.vocabulary import BatchKind, BatchStatus
from nudge.platform.listing import page
from nudge.tasks.batches import SORTS, BatchSort, batch_filters, batch_rows
from nudge.tasks.schemas import BatchOut

router = APIRouter(
    prefix="/api/task-automation/batches", tags=["batches"], route_class=JsonBoundaryRoute
)


@router.get("/", response_model=Page[BatchOut])
def list_batches(
    owner: OwnerDep,
    session: SessionDep,
    kind: BatchKind | None = None,
    status: BatchStatus | None = None,
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
