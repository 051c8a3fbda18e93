"""The page's pause / resume / cancel buttons: the same signals as the API's."""

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from api.deps import ClientDep, SessionsDep
from api.pages.session import BASE, PostDep
from api.params import WorkflowIdPath
from nudge.core.vocabulary import SequenceAction
from nudge.sequences.control import control_sequence
from nudge.sequences.progress import latest_batch

router = APIRouter(prefix=f"{BASE}/sequences", tags=["web page"])
DONE = {"pause": "sequence-paused", "resume": "sequence-resumed", "cancel": "sequence-cancelled"}


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
