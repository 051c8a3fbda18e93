"""The page itself: stats cards, the per-day chart, rules, running sequences, batches, and
the working calendar and the integrations in a few words."""

import asyncio
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import ClientDep, RunningDep, SessionsDep, SettingsDep
from api.pages.calendar import calendar_card
from api.pages.forms import PLACEMENTS
from api.pages.integrations import integrations_card
from api.pages.render import bar_chart, render
from api.pages.session import BASE, PageDep
from api.params import MAX_ID
from nudge.contacts.lookup import contact_names
from nudge.core.models import Rule, TaskBatch, utcnow
from nudge.core.vocabulary import BatchKind
from nudge.core.vocabulary import BatchStatus as BatchStatusName
from nudge.platform.listing import page as page_of
from nudge.reporting.stats import Fresh, Window, compute, remember_medians
from nudge.sequences.definitions import definition_out, list_definitions
from nudge.sequences.payloads import SequenceProgress
from nudge.sequences.progress import sequence_progress
from nudge.tasks.batches import SORTS, batch_filters, batch_rows
from nudge.tasks.schemas import BatchOut

router = APIRouter(prefix=BASE, tags=["web page"])
BATCHES_SHOWN = 20
SEQUENCES_SHOWN = 20
LIVE = ("running", "paused")  # the sequence states the page offers pause / resume / cancel for
NOTICES = {
    "rule-created": "Rule created.",
    "rule-saved": "Rule saved.",
    "rule-activated": "Rule activated.",
    "rule-deactivated": "Rule deactivated: pending firings will be skipped.",
    "rule-deleted": "Rule deleted; its pending firings were cancelled.",
    "sequence-paused": "Sequence paused.",
    "sequence-resumed": "Sequence resumed; the remaining steps moved later by the pause.",
    "sequence-cancelled": "Sequence cancelled; tasks already created stay.",
    "sequence-created": "Sequence created.",
    "sequence-saved": "Sequence saved.",
    "signed-in": "Signed in.",
}


def _running_sequences(session: Session, owner_id: int) -> list[TaskBatch]:
    return list(
        session.scalars(
            select(TaskBatch)
            .where(*batch_filters(owner_id, "sequence", "running"))
            .order_by(TaskBatch.id.desc())
            .limit(SEQUENCES_SHOWN)
        )
    )


def _read(
    session: Session,
    owner_id: int,
    kind: str | None,
    status: str | None,
    live: list[TaskBatch],
    fresh: Fresh,
) -> dict[str, Any]:
    stats = compute(session, Window.of(owner_id, utcnow(), None, None), fresh)
    rules = list(session.scalars(select(Rule).where(Rule.owner_id == owner_id).order_by(Rule.id)))
    shown, total = page_of(
        session,
        TaskBatch,
        batch_filters(owner_id, kind, status),
        SORTS["-created_at"],
        BATCHES_SHOWN,
        0,
    )
    names = contact_names(session, owner_id, (b.contact_id for b in [*shown, *live]))
    return {
        "stats": stats,
        "rules": rules,
        "rule_stats": {r["rule_id"]: r for r in stats["per_rule"]},
        "batches": batch_rows(session, shown),
        "batches_total": total,
        "running_rows": batch_rows(session, live),
        "definitions": [
            definition_out(session, owner_id, d) for d in list_definitions(session, owner_id)
        ],
        "names": names,
        "calendar": calendar_card(session, owner_id),
        "integrations": integrations_card(session, owner_id),
    }


def _notice(done: str | None, version: int | None, migrated: int | None) -> str | None:
    """What the last action did; a saved sequence says its version and, after a live edit,
    how many running enrollments adopted it."""
    notice = NOTICES.get(done or "")
    if notice is None or done != "sequence-saved":
        return notice
    if version is not None:
        notice = f"Sequence saved as version {version}."
    if migrated is not None:
        notice += (
            f" {migrated} running enrollment{'' if migrated == 1 else 's'} adopted its new steps."
        )
    return notice


async def _progress(
    client: Client, sessions: SessionsDep, batches: list[TaskBatch]
) -> dict[int, SequenceProgress | None]:
    """Each running sequence's own answer (paused or not, next due); None where Temporal
    can't answer in time, and the page falls back to the batch's rows."""

    async def one(batch: TaskBatch) -> SequenceProgress | None:
        try:
            return await asyncio.wait_for(sequence_progress(client, sessions, batch), 3)
        except (RPCError, RuntimeError, TimeoutError):  # the rows still tell most of it
            return None

    answers = await asyncio.gather(*(one(b) for b in batches))
    return {b.id: a for b, a in zip(batches, answers, strict=True)}


@router.get("", response_class=HTMLResponse, summary="The task-scheduling page")
async def dashboard(
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    client: ClientDep,
    counts: RunningDep,
    settings: SettingsDep,
    kind: Annotated[BatchKind | None, Query(description="Batches of this kind only.")] = None,
    status: Annotated[BatchStatusName | None, Query(description="Batches in this state.")] = None,
    done: Annotated[str | None, Query(description="What the last action did.")] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Version saved.")] = None,
    migrated: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Enrollments that adopted it.")
    ] = None,
) -> HTMLResponse:
    def read_running() -> list[TaskBatch]:
        with sessions() as session:
            return _running_sequences(session, page.owner.id)

    def read(live: list[TaskBatch]) -> dict[str, Any]:
        fresh: Fresh = {}
        with sessions() as session:
            data = _read(session, page.owner.id, kind, status, live, fresh)
        remember_medians(sessions, page.owner.id, fresh)
        return data

    running = await to_thread.run_sync(read_running)
    progress, workflows = await asyncio.gather(
        _progress(client, sessions, running), counts.of(page.owner.id)
    )
    # Reading a sequence that has ended in Temporal records its end: it leaves the running
    # list (no pause or cancel for it), and the stats and batches read next count it ended.
    live = [b for b in running if (p := progress[b.id]) is None or p.state in LIVE]
    data = await to_thread.run_sync(read, live)
    sequences: list[tuple[BatchOut, SequenceProgress | None, str]] = [
        (row, progress.get(row.id), settings.workflow_url(row.workflow_id))
        for row in data["running_rows"]
    ]
    context = {
        **data,
        "page": page,
        "chart": bar_chart(data["stats"]["tasks_per_day"]),
        "sequences": sequences,
        "workflows": workflows,
        "temporal_ui": settings.ui_base_url,
        "filters": {"kind": kind or "", "status": status or ""},
        "notice": _notice(done, version, migrated),
        "placements": PLACEMENTS,
        "highlight": request.query_params.get("rule"),
        "highlight_definition": request.query_params.get("definition"),
    }
    return render(request, "dashboard.html", context)
