"""Changing and deleting a definition while enrollments run it: a live edit is delivered to
each running enrollment as a signal (never a restart), and deleting one that runs needs the
owner to say its enrollments are cancelled."""

import asyncio
from dataclasses import dataclass
from typing import Final

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nudge.core.errors import Conflict
from nudge.core.models import EnrollJob, SequenceDefinition
from nudge.core.vocabulary import ApplyToRunning
from nudge.platform.db import transaction
from nudge.sequences.definition_schemas import DefinitionChangeOut, DefinitionIn, DefinitionPatch
from nudge.sequences.definitions import (
    change_definition,
    definition_out,
    editable_definition,
    one_writer,
    running_enrollments,
    snapshot,
)
from nudge.sequences.starts import adopt_version, cancel_enroll_job, signal_sequence
from nudge.sequences.steps import DefinitionSnapshot

IN_FLIGHT: Final = 20  # signals at once


@dataclass
class _Changed:
    out: DefinitionChangeOut
    snap: DefinitionSnapshot
    running: list[str]


def _change(
    sessions: sessionmaker[Session],
    owner_id: int,
    definition_id: int,
    body: DefinitionIn | DefinitionPatch,
    apply: ApplyToRunning,
) -> _Changed:
    with transaction(sessions) as session:
        change = change_definition(session, owner_id, definition_id, body)
        definition = change.definition
        running = []
        if change.new_version and apply == "future_steps":
            running = [w for _, w in running_enrollments(session, owner_id, definition)]
        out = DefinitionChangeOut(
            **definition_out(session, owner_id, definition).model_dump(),
            apply_to_running=apply,
            migrated=0,
        )
        return _Changed(out, snapshot(session, definition), running)


async def _each(workflow_ids: list[str], send) -> int:  # type: ignore[no-untyped-def]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(workflow_id: str) -> bool:
        async with gate:
            return bool(await send(workflow_id))

    return sum(await asyncio.gather(*(one(w) for w in workflow_ids)))


async def change(
    client: Client,
    sessions: sessionmaker[Session],
    owner_id: int,
    definition_id: int,
    body: DefinitionIn | DefinitionPatch,
    apply: ApplyToRunning,
) -> DefinitionChangeOut:
    """Write the change (a new version when steps or exits changed); with future_steps, tell
    every running enrollment to adopt it. `migrated` counts those that were still running."""
    done = await to_thread.run_sync(_change, sessions, owner_id, definition_id, body, apply)
    if done.running:
        done.out.migrated = await _each(done.running, lambda w: adopt_version(client, w, done.snap))
    return done.out


def _running_of(
    sessions: sessionmaker[Session], owner_id: int, definition_id: int
) -> tuple[str, list[str]]:
    with sessions() as session:
        definition = editable_definition(session, owner_id, definition_id)
        running = running_enrollments(session, owner_id, definition)
        return definition.name, [w for _, w in running]


def _jobs_of(sessions: sessionmaker[Session], definition_id: int) -> list[str]:
    """The definition's bulk enrollment jobs still at work (they go with it)."""
    with sessions() as session:
        return list(
            session.scalars(
                select(EnrollJob.workflow_id).where(
                    EnrollJob.definition_id == definition_id,
                    EnrollJob.status.in_(("running", "waiting")),
                )
            )
        )


def _delete(sessions: sessionmaker[Session], owner_id: int, definition_id: int) -> None:
    with transaction(sessions) as session:
        one_writer(session, owner_id)
        editable_definition(session, owner_id, definition_id)
        session.execute(delete(SequenceDefinition).where(SequenceDefinition.id == definition_id))


async def remove(
    client: Client,
    sessions: sessionmaker[Session],
    owner_id: int,
    definition_id: int,
    cancel_running: bool,
) -> int:
    """Delete it; 409 while enrollments run unless `cancel_running` (then they are cancelled
    first, their tasks kept). Its bulk jobs still at work are cancelled with it. How many
    enrollments were cancelled."""
    name, running = await to_thread.run_sync(_running_of, sessions, owner_id, definition_id)
    if running and not cancel_running:
        raise Conflict(
            f"{len(running)} enrollment(s) in {name!r} are running; cancel them with it by "
            "adding ?cancel_running=true, or wait until they finish"
        )
    reason = f"sequence definition {definition_id} deleted"
    jobs = await to_thread.run_sync(_jobs_of, sessions, definition_id)
    await _each(jobs, lambda w: cancel_enroll_job(client, w, reason))
    cancelled = await _each(running, lambda w: signal_sequence(client, w, "cancel", reason))
    await to_thread.run_sync(_delete, sessions, owner_id, definition_id)
    return cancelled
