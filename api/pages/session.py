"""Signing in to the web page with an API key: an HttpOnly, SameSite=Strict cookie, and a
CSRF token derived from the key on every form (so a forged form can't post)."""

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session, sessionmaker

from api.deps import get_sessions, key_owner
from nudge.core.models import Owner

COOKIE = "nudge_key"
BASE = "/automations/task-scheduling"


class SignInRequired(Exception):
    """No valid key cookie: the page sends the browser to the sign-in form."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class BadCsrf(Exception):
    """A form posted without this session's token (stale page, or another site)."""


def csrf_token(api_key: str) -> str:
    return hmac.new(api_key.encode(), b"nudge-page-csrf", hashlib.sha256).hexdigest()


class PageSession:
    def __init__(self, owner: Owner, api_key: str) -> None:
        self.owner = owner
        self.csrf = csrf_token(api_key)


def page_session(
    request: Request, sessions: Annotated[sessionmaker[Session], Depends(get_sessions)]
) -> PageSession:
    key = request.cookies.get(COOKIE)
    owner = key_owner(sessions, key) if key else None
    if owner is None or key is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else BASE)
    return PageSession(owner, key)


def same_origin(request: Request) -> None:
    """A browser names the page a form came from; another site's is refused (this also stops
    a forged sign-in, which has no token to check). Behind a proxy, pass the Host through."""
    origin = request.headers.get("origin")  # "null" too: sandboxed frames and data: pages
    if origin is not None and urlsplit(origin).netloc != request.url.netloc:
        raise BadCsrf


def posted_session(
    request: Request,
    page: Annotated[PageSession, Depends(page_session)],
    csrf: Annotated[str, Form(description="The token the page put in the form.")] = "",
) -> PageSession:
    """For every POST: the key cookie *and* the form's token must agree."""
    same_origin(request)
    if not hmac.compare_digest(csrf, page.csrf):
        raise BadCsrf
    return page


def sign_in_url(next_url: str) -> str:
    return f"{BASE}/sign-in?next={quote(next_url, safe='')}"


PageDep = Annotated[PageSession, Depends(page_session)]
PostDep = Annotated[PageSession, Depends(posted_session)]
