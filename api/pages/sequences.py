"""The page's pause / resume / cancel buttons: the same signals as the API's."""

from typing import Literal

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from api.deps import ClientDep, SessionsDep
from api.pages.session import BASE, PostDep
from api.params import WorkflowIdPath
from nudge.sequences import latest_batch, signal_sequence

router = APIRouter(prefix=f"{BASE}/sequences", tags=["web page"])
DONE = {"pause": "sequence-paused", "resume": "sequence-resumed", "cancel": "sequence-cancelled"}


@router.post("/{workflow_id}/{action}", summary="Pause, resume or cancel a sequence")
async def control(
    workflow_id: WorkflowIdPath,
    action: Literal["pause", "resume", "cancel"],
    page: PostDep,
    sessions: SessionsDep,
    client: ClientDep,
) -> RedirectResponse:
    """Only the signed-in owner's sequences; signalling twice is harmless."""
    batch = await to_thread.run_sync(latest_batch, sessions, page.owner.id, workflow_id)
    args: tuple[object, ...] = ("cancelled from the web page",) if action == "cancel" else ()
    await signal_sequence(client, batch, action, *args)
    return RedirectResponse(f"{BASE}?done={DONE[action]}#sequences", 303)
