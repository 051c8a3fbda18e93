"""The web page at /automations/task-scheduling: server-rendered (Jinja2), htmx where it
helps, plain forms everywhere so it works without JavaScript."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.pages import (
    calendar,
    dashboard,
    definitions,
    enrollments,
    integrations,
    rules,
    sequences,
    sign_in,
)
from api.pages.render import render
from api.pages.session import BASE, BadCsrf, SignInRequired, sign_in_url

STATIC = Path(__file__).resolve().parent.parent / "static"


def is_page(request: Request) -> bool:
    return request.url.path.startswith(BASE)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status_code, "message": message}, status_code)


async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
    target = sign_in_url(exc.next_url)
    if request.headers.get("HX-Request"):  # htmx swaps fragments: ask it to navigate instead
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


async def _bad_csrf(request: Request, _: BadCsrf) -> HTMLResponse:
    return error_page(
        request,
        403,
        "This form is out of date (or came from another site). Reload the page and try again.",
    )


def install(app: FastAPI) -> None:
    # The sequence editor's and enrollment's routes before sequences': /sequences/{id}/...
    for module in (
        sign_in,
        dashboard,
        calendar,
        integrations,
        rules,
        definitions,
        enrollments,
        sequences,
    ):
        app.include_router(module.router, include_in_schema=False)  # README documents them
    app.mount(f"{BASE}/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
    app.add_exception_handler(BadCsrf, _bad_csrf)  # type: ignore[arg-type]  # Starlette types exc as Exception; called only for this class
