"""Sign in with an API key, sign out."""

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionsDep, key_owner
from api.pages.render import render
from api.pages.session import (
    BASE,
    COOKIE,
    COOKIE_PATH,
    LEGACY_COOKIE,
    LIFETIME,
    PostDep,
    end_session,
    same_origin,
    start_session,
)
from api.ratelimit import client_key, limiter

router = APIRouter(prefix=BASE, tags=["web page"])


def _safe_next(target: str | None) -> str:
    """Only back into this page: never an open redirect to another site."""
    if target and len(target) <= 2000 and target.startswith(BASE):
        return target
    return BASE


@router.get("/sign-in", response_class=HTMLResponse, summary="Sign-in form")
def sign_in_form(request: Request, next: Annotated[str | None, Query()] = None) -> HTMLResponse:
    return render(request, "sign_in.html", {"next": _safe_next(next), "error": None})


@router.post("/sign-in", response_class=HTMLResponse, summary="Sign in with an API key")
async def sign_in(
    request: Request,
    sessions: SessionsDep,
    api_key: Annotated[str, Form(max_length=200, description="An owner's API key.")] = "",
    next: Annotated[str, Form()] = BASE,
) -> Response:
    """A right key starts a session: its id goes into an HttpOnly, SameSite=Strict cookie
    (scripts can't read it, other sites can't send it); the key itself is never stored."""
    same_origin(request)
    key, target = api_key.strip(), _safe_next(next)
    failures, client = limiter(request), client_key(request)
    wait = failures.retry_after(client)
    if wait is not None:  # checked before the key, so a guess over the limit learns nothing
        error = f"Too many wrong keys from your address. Try again in {wait} seconds."
        limited = render(request, "sign_in.html", {"next": target, "error": error}, 429)
        limited.headers["Retry-After"] = str(wait)
        return limited
    known = await to_thread.run_sync(key_owner, sessions, key) if key else None
    if not known:
        if key:
            failures.failed(client)
        error = (
            "That key is not valid. `nudge up` prints one on first start; "
            "`nudge create-owner NAME` makes another."
            if key
            else "Paste your API key."
        )
        return render(request, "sign_in.html", {"next": target, "error": error}, 401)
    session_id = await to_thread.run_sync(start_session, sessions, known.id)
    response = RedirectResponse(target if target != BASE else f"{BASE}?done=signed-in", 303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LEGACY_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/sign-out", summary="Sign out")
def sign_out(page: PostDep, sessions: SessionsDep) -> RedirectResponse:
    """Ends the session on the server too: the cookie, wherever it was copied, is dead."""
    end_session(sessions, page.session_id)
    response = RedirectResponse(f"{BASE}/sign-in", 303)
    for name in (COOKIE, LEGACY_COOKIE):
        response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
