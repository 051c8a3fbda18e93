"""A batch whose workflow ended without writing its own end (terminated, timed out or failed
in Temporal, or cancelled before it could record it): how it ended, read from Temporal, and
that end written on the batch row with Temporal's own reason.

Sequence progress does it when it reads such a batch; the periodic automation reconcile
does it for every running batch, so batches and stats agree with Temporal without a read."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, cast, get_args

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
)
from temporalio.service import RPCError

from nudge.core.models import TaskBatch, utcnow
from nudge.core.vocabulary import BatchEnd
from nudge.platform.db import transaction
from nudge.platform.temporal import not_found

MAX_REASON: Final = 500  # the stop_reason column
# Runs of one workflow id looked through for an earlier batch's run (a sequence started again
# makes a new run under the same id), newest first.
RUNS_SEARCHED: Final = 20
FORGOTTEN: Final = (
    "Temporal has no record of this workflow (it ended longer ago than the namespace keeps "
    "history, never started, or Temporal's data was reset)"
)


@dataclass(frozen=True)
class WorkflowEnd:
    status: BatchEnd
    reason: str | None
    at: datetime | None  # when Temporal closed the run


def _forgotten(batch: TaskBatch, after: timedelta | None) -> WorkflowEnd | None:
    """The end of a batch Temporal has no run for, once it is too old to be still starting."""
    if after is None or utcnow() - batch.created_at < after:
        return None
    return WorkflowEnd("stopped", FORGOTTEN, None)


async def batch_end(
    client: Client,
    batch: TaskBatch,
    desc: WorkflowExecutionDescription | None = None,
    *,
    forgotten_after: timedelta | None = None,
) -> WorkflowEnd | None:
    """How the run of `batch` ended; None while it runs. When Temporal has no such run: None
    (not started yet), or, for a batch older than `forgotten_after`, stopped with FORGOTTEN
    (its run closed longer ago than the namespace keeps runs, its start never happened, or
    Temporal's data was reset). `desc`: the workflow id's latest run, when the caller has it."""
    if desc is None:
        try:
            desc = await client.get_workflow_handle(batch.workflow_id).describe()
        except RPCError as err:
            if not_found(err):
                return _forgotten(batch, forgotten_after)
            raise
    # Sequences name their batch in the memo; a campaign enrollment has one run, ever.
    if await desc.memo_value("batch_id", batch.id) != batch.id:
        found = await _run_of(client, batch)
        if found is None:
            return _forgotten(batch, forgotten_after)
        desc = found
    if desc.status in (None, WorkflowExecutionStatus.RUNNING):
        return None
    handle = client.get_workflow_handle(desc.id, run_id=desc.run_id)
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, skip_archival=True
    ):
        status, reason = await _read_close(client, event)
        return WorkflowEnd(status, reason[:MAX_REASON] if reason else None, desc.close_time)
    return None


async def _run_of(client: Client, batch: TaskBatch) -> WorkflowExecutionDescription | None:
    query = f"WorkflowId = '{batch.workflow_id}'"
    async for run in client.list_workflows(query, limit=RUNS_SEARCHED):
        if await run.memo_value("batch_id", None) == batch.id:
            return await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
    return None


async def _read_close(client: Client, event: HistoryEvent) -> tuple[BatchEnd, str | None]:
    if event.HasField("workflow_execution_terminated_event_attributes"):
        reason = event.workflow_execution_terminated_event_attributes.reason
        return "stopped", reason or "workflow terminated in Temporal"
    if event.HasField("workflow_execution_canceled_event_attributes"):
        return "cancelled", "workflow cancelled in Temporal"
    if event.HasField("workflow_execution_timed_out_event_attributes"):
        return "stopped", "workflow timed out in Temporal"
    if event.HasField("workflow_execution_failed_event_attributes"):
        failure = event.workflow_execution_failed_event_attributes.failure
        return "stopped", f"workflow failed: {failure.message}"
    # Completed (or continued as new) without writing its end: its result says how it ended.
    result = event.workflow_execution_completed_event_attributes.result
    values = await client.data_converter.decode(result.payloads) if result.payloads else []
    progress = values[0] if values and isinstance(values[0], dict) else {}
    state, why = progress.get("state"), progress.get("stop_reason")
    ended = cast(BatchEnd, state) if state in get_args(BatchEnd) else "completed"
    return ended, why if isinstance(why, str) else None


def record_end(sessions: sessionmaker[Session], batch_id: int, end: WorkflowEnd) -> bool:
    """Write the end on a batch still marked running; False when something else (the workflow
    itself, another reconcile) had written one already."""
    with transaction(sessions) as session:
        changed = session.execute(
            update(TaskBatch)
            .where(TaskBatch.id == batch_id, TaskBatch.status == "running")
            .values(status=end.status, stop_reason=end.reason, finished_at=end.at or utcnow())
        )
        return bool(changed.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult has rowcount
