"""One enrollment's progress (a custom sequence's steps: kind, state, due time, task), and
the page's pause / resume / cancel buttons: the same signals as the API's."""

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ClientDep, SessionsDep, SettingsDep
from api.pages.render import render
from api.pages.session import BASE, PageDep, PostDep
from api.params import WorkflowIdPath
from nudge.contacts.lookup import contact_names
from nudge.core.vocabulary import SequenceAction
from nudge.sequences.control import control_sequence
from nudge.sequences.progress import latest_batch, sequence_progress

router = APIRouter(prefix=f"{BASE}/sequences", tags=["web page"])
DONE = {"pause": "sequence-paused", "resume": "sequence-resumed", "cancel": "sequence-cancelled"}
NOTICES = {
    "enrolled": "Enrolled. Each step's task is created at its due time.",
    "already-enrolled": "This contact was already enrolled: this is the running enrollment.",
}


@router.get(
    "/{workflow_id}/progress", response_class=HTMLResponse, summary="An enrollment's progress"
)
async def progress(
    workflow_id: WorkflowIdPath,
    request: Request,
    page: PageDep,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(description="What the last action did.")] = None,
) -> HTMLResponse:
    """State, version and, for a custom sequence, each step; only the owner's own."""
    batch = await to_thread.run_sync(latest_batch, sessions, page.owner.id, workflow_id)
    answer = await sequence_progress(client, sessions, batch)

    def names() -> dict[int, str]:
        with sessions() as session:
            return contact_names(session, page.owner.id, [batch.contact_id])

    context = {
        "page": page,
        "batch": batch,
        "progress": answer,
        "contact": (await to_thread.run_sync(names)).get(batch.contact_id or 0, "\u2013"),
        "url": settings.workflow_url(workflow_id),
        "notice": NOTICES.get(done or ""),
    }
    return render(request, "sequence_progress.html", context)


@router.post("/{workflow_id}/{action}", summary="Pause, resume or cancel a sequence")
async def control(
    workflow_id: WorkflowIdPath,
    action: SequenceAction,
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
) -> RedirectResponse:
    """Only the signed-in owner's sequences; signalling twice is harmless."""
    batch = await to_thread.run_sync(latest_batch, sessions, page.owner.id, workflow_id)
    reason = "cancelled from the web page" if action == "cancel" else None
    await control_sequence(client, batch, action, reason)
    return RedirectResponse(f"{BASE}?done={DONE[action]}#sequences", 303)
