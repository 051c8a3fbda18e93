"""Signing in to the web page: the cookie (HttpOnly, SameSite=Strict) holds a random session
id, never the API key; the database keeps only the id's hash, its owner and its expiry, and
signing out deletes the row, so a copied cookie stops working. Every form carries a CSRF
token derived from the session id, and every POST must come from this page's own origin."""

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.deps import get_sessions
from nudge.core.models import Owner, WebSession, utcnow
from nudge.platform.db import transaction

COOKIE = "nudge_session"
# Where the page once kept the API key itself: cleared whenever a session starts or ends.
LEGACY_COOKIE = "nudge_key"
COOKIE_PATH = "/automations"
LIFETIME = timedelta(days=7)
BASE = "/automations/task-scheduling"


class SignInRequired(Exception):
    """No valid session cookie: the page sends the browser to the sign-in form."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class BadCsrf(Exception):
    """A form posted without this session's token, or not from this page's origin."""


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(sessions: sessionmaker[Session], owner_id: int) -> str:
    """A new session for the owner; returns its id (the cookie's value), shown this once."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with transaction(sessions) as db:
        db.execute(
            delete(WebSession).where(WebSession.owner_id == owner_id, WebSession.expires_at <= now)
        )
        db.add(
            WebSession(
                id_hash=_digest(session_id),
                owner_id=owner_id,
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
    return session_id


def end_session(sessions: sessionmaker[Session], session_id: str) -> None:
    with transaction(sessions) as db:
        db.execute(delete(WebSession).where(WebSession.id_hash == _digest(session_id)))


def session_owner(sessions: sessionmaker[Session], session_id: str) -> Owner | None:
    """The owner of a live (unexpired, not signed-out) session."""
    with sessions() as db:
        return db.scalar(
            select(Owner)
            .join(WebSession, WebSession.owner_id == Owner.id)
            .where(WebSession.id_hash == _digest(session_id), WebSession.expires_at > utcnow())
        )


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"nudge-page-csrf", hashlib.sha256).hexdigest()


class PageSession:
    def __init__(self, owner: Owner, session_id: str) -> None:
        self.owner = owner
        self.session_id = session_id
        self.csrf = csrf_token(session_id)


def page_session(
    request: Request, sessions: Annotated[sessionmaker[Session], Depends(get_sessions)]
) -> PageSession:
    session_id = request.cookies.get(COOKIE)
    owner = session_owner(sessions, session_id) if session_id else None
    if owner is None or session_id is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else BASE)
    return PageSession(owner, session_id)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the default port filled in; None for "null" and junk."""
    try:
        parts = urlsplit(url)
        scheme, port = parts.scheme.lower(), parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def same_origin(request: Request) -> None:
    """A POST must name this page's origin (scheme, host and port) in Origin, or, from a
    browser that sends none, in Referer (the page's Referrer-Policy keeps it for this
    site). Another site's form, a sandboxed frame ("null") and a request naming neither are
    refused; this also stops a forged sign-in, which has no token to check. Behind a proxy,
    pass the Host through and X-Forwarded-Proto from a trusted proxy."""
    own = _origin(str(request.base_url))
    origin = request.headers.get("origin")
    claimed = origin if origin is not None else request.headers.get("referer")
    if claimed is None or _origin(claimed) != own:
        raise BadCsrf


def posted_session(
    request: Request,
    page: Annotated[PageSession, Depends(page_session)],
    csrf: Annotated[str, Form(description="The token the page put in the form.")] = "",
) -> PageSession:
    """For every POST: the session cookie *and* the form's token must agree."""
    same_origin(request)
    if not hmac.compare_digest(csrf, page.csrf):
        raise BadCsrf
    return page


def sign_in_url(next_url: str) -> str:
    return f"{BASE}/sign-in?next={quote(next_url, safe='')}"


PageDep = Annotated[PageSession, Depends(page_session)]
PostDep = Annotated[PageSession, Depends(posted_session)]
