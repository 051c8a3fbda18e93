"""Scheduling a follow-up sequence (a preset or a custom definition): batch row + workflow
start, never two of either."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from anyio import to_thread
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from nudge.calendar.snapshots import calendar_snapshot
from nudge.contacts.lookup import owned_contact
from nudge.core.models import TaskBatch, utcnow
from nudge.core.vocabulary import SequenceType
from nudge.platform.db import transaction
from nudge.platform.temporal import server_now
from nudge.sequences.batches import defined_batch, sequence_batch
from nudge.sequences.definitions import StepPlacer, snapshot, visible_definition
from nudge.sequences.payloads import PlannedStep, SequenceInput
from nudge.sequences.progress import owned_batch, planned_steps, sequence_progress
from nudge.sequences.starts import start_defined_sequence, start_sequence
from nudge.sequences.steps import DefinedSequenceInput, planned_due


@dataclass
class ScheduledSequence:
    workflow_id: str
    batch_id: int
    planned: list[PlannedStep]
    started: bool  # False: one was already running and this is it
    definition_id: int | None = None
    version: int | None = None
    job_id: int | None = None  # the bulk enrollment job that started the running one


@dataclass
class _Opened:
    batch_id: int
    workflow_id: str
    contact_name: str
    preset: SequenceInput | None = None
    defined: DefinedSequenceInput | None = None


def _open_batch(
    sessions: sessionmaker[Session],
    owner_id: int,
    contact_id: int,
    sequence_type: SequenceType,
    definition_id: int | None,
    start_delay_hours: float,
    job_id: int | None,
    anchor: datetime | None,
) -> _Opened:
    """The batch row, and what the workflow will run: a preset, or the definition's current
    version (read in the same transaction as the row is written), counted from `anchor`
    (None: from the workflow's start)."""
    with transaction(sessions) as session:
        contact = owned_contact(session, owner_id, contact_id=contact_id)
        definition = None
        if definition_id is not None:
            definition = visible_definition(session, owner_id, definition_id)
            if definition.preset is not None:
                sequence_type = definition.preset  # type: ignore[assignment]
                definition = None
        snap = snapshot(session, definition) if definition is not None else None
        if snap is None:
            batch = sequence_batch(contact, sequence_type, start_delay_hours, job_id=job_id)
        else:
            batch = defined_batch(contact, snap, start_delay_hours, job_id=job_id)
        if anchor is not None:  # its progress, read from rows once the run is gone, counts from it
            batch.params = {**batch.params, "anchor": anchor.isoformat()}
        calendar = None
        if snap is not None and any(step.placed for step in snap.steps):  # frozen for the run
            calendar = calendar_snapshot(session, owner_id, anchor or utcnow())
        # The one write, last: on SQLite it holds the write lock until the commit.
        session.add(batch)
        session.flush()
        opened = _Opened(batch.id, batch.workflow_id, contact.name)
        run = {
            "owner_id": owner_id,
            "contact_id": contact_id,
            "batch_id": batch.id,
            "start_delay_hours": start_delay_hours,
            "enroll_job_id": job_id,
            "anchor": anchor,
        }
        if snap is None:
            opened.preset = SequenceInput(**run, sequence_type=sequence_type)
        else:
            opened.defined = DefinedSequenceInput(**run, snapshot=snap, calendar=calendar)
        return opened


def _drop_batch(sessions: sessionmaker[Session], batch_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(delete(TaskBatch).where(TaskBatch.id == batch_id))


async def _runs_our_batch(client: Client, workflow_id: str, batch_id: int) -> bool:
    """After an unclear start failure: did the start happen after all?"""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except (RPCError, RuntimeError):  # not found, or Temporal unreachable: not started
        return False
    return bool(await desc.memo_value("batch_id", None) == batch_id)


def _placed_plan(
    sessions: sessionmaker[Session], inp: DefinedSequenceInput, start: datetime
) -> list[datetime | None]:
    """The due times its placed steps will get (the workflow asks the same function)."""
    with sessions() as session:
        contact = owned_contact(session, inp.owner_id, contact_id=inp.contact_id)
        placer = StepPlacer(session, inp.owner_id, contact, start, inp.calendar)
        return planned_due(inp.snapshot.steps, start, place=placer)


async def _planned(opened: _Opened, sessions: sessionmaker[Session]) -> list[PlannedStep]:
    """The due times the started run will give its steps, from the anchor it was given."""
    if opened.preset is not None:
        return planned_steps(opened.preset)
    assert opened.defined is not None
    inp = opened.defined
    assert inp.anchor is not None
    start = inp.anchor + timedelta(hours=inp.start_delay_hours)
    if inp.calendar is None:
        due = planned_due(inp.snapshot.steps, start)
    else:
        due = await to_thread.run_sync(_placed_plan, sessions, inp, start)
    return [PlannedStep(step=i + 1, due_at=d) for i, d in enumerate(due) if d is not None]


async def schedule_sequence(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    task_queue: str,
    owner_id: int,
    contact_id: int,
    sequence_type: SequenceType = "standard",
    start_delay_hours: float = 0,
    definition_id: int | None = None,
    job_id: int | None = None,
    plan: bool = True,
) -> ScheduledSequence:
    """Start it, or answer with the one already running (`started` False). `plan` False
    (bulk enrollment) leaves `planned` empty.

    The answer's due times count from an anchor chosen here and given to the workflow, which
    counts from the same one: a start is one round trip to Temporal, not two."""
    anchor = await server_now(client) if plan else None
    opened = await to_thread.run_sync(
        _open_batch,
        sessions,
        owner_id,
        contact_id,
        sequence_type,
        definition_id,
        start_delay_hours,
        job_id,
        anchor,
    )
    start: Callable[[], Awaitable[WorkflowHandle]]
    if opened.preset is not None:
        inp = opened.preset
        start = lambda: start_sequence(client, task_queue, inp, contact_name=opened.contact_name)  # noqa: E731
    else:
        assert opened.defined is not None
        dinp = opened.defined
        start = lambda: start_defined_sequence(  # noqa: E731
            client, task_queue, dinp, contact_name=opened.contact_name
        )
    ids = (
        (opened.defined.snapshot.definition_id, opened.defined.snapshot.version)
        if opened.defined
        else (None, None)
    )
    try:
        handle = await start()
    except WorkflowAlreadyStartedError as err:
        # Double click or retry: the running sequence is the answer; our batch row goes.
        await to_thread.run_sync(_drop_batch, sessions, opened.batch_id)
        # The winner's batch is named in its memo (newer rows may be other losers').
        desc = await client.get_workflow_handle(err.workflow_id, run_id=err.run_id).describe()
        running_id = await desc.memo_value("batch_id")
        if not plan:  # bulk: the memo says whose run it is (its row may not be back yet)
            job = await desc.memo_value("enroll_job_id", None)
            return ScheduledSequence(
                err.workflow_id, running_id, [], False, ids[0], ids[1], job_id=job
            )
        running = await to_thread.run_sync(owned_batch, sessions, owner_id, running_id)
        progress = await sequence_progress(client, sessions, running)
        return ScheduledSequence(err.workflow_id, running.id, progress.planned, False, *ids)
    except Exception:
        # A timeout may hide a start that happened: keep the row for a workflow that runs.
        # (If we drop it wrongly, the workflow's first activity writes it back.)
        if not await _runs_our_batch(client, opened.workflow_id, opened.batch_id):
            await to_thread.run_sync(_drop_batch, sessions, opened.batch_id)
            raise
        handle = client.get_workflow_handle(opened.workflow_id)
    planned = await _planned(opened, sessions) if plan else []
    return ScheduledSequence(handle.id, opened.batch_id, planned, True, *ids)
