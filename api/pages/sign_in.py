"""Sign in with an API key, sign out."""

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionsDep, key_owner
from api.pages.render import render
from api.pages.session import BASE, COOKIE, PostDep, same_origin

router = APIRouter(prefix=BASE, tags=["web page"])
WEEK = 7 * 24 * 3600


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
    """The key goes into an HttpOnly, SameSite=Strict cookie: scripts can't read it and other
    sites can't send it."""
    same_origin(request)

    known = (
        await to_thread.run_sync(key_owner, sessions, api_key.strip()) if api_key.strip() else None
    )
    if not known:
        error = (
            "That key is not valid. `nudge up` prints one on first start; "
            "`nudge create-owner NAME` makes another."
            if api_key.strip()
            else "Paste your API key."
        )
        return render(request, "sign_in.html", {"next": _safe_next(next), "error": error}, 401)
    target = _safe_next(next)
    response = RedirectResponse(target if target != BASE else f"{BASE}?done=signed-in", 303)
    response.set_cookie(
        COOKIE,
        api_key.strip(),
        max_age=WEEK,
        path="/automations",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out", summary="Sign out")
def sign_out(_: PostDep) -> RedirectResponse:
    response = RedirectResponse(f"{BASE}/sign-in", 303)
    response.delete_cookie(COOKIE, path="/automations", httponly=True, samesite="strict")
    return response
