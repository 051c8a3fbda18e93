"""The calling owner's own settings: where reminders are delivered, how many bulk
enrollments a day."""

import secrets

from fastapi import APIRouter

from api.boundary import JsonBoundaryRoute
from api.deps import OwnerDep, SessionDep, SettingsDep
from nudge.core.errors import Unprocessable
from nudge.core.models import Owner
from nudge.reminders.schemas import AccountOut, WebhookIn, WebhookOut
from nudge.reminders.webhooks import internal_target
from nudge.sequences.definition_schemas import EnrollmentLimitIn

router = APIRouter(prefix="/api/account", tags=["account"], route_class=JsonBoundaryRoute)


@router.get("/", response_model=AccountOut)
def account(owner: OwnerDep, session: SessionDep) -> AccountOut:
    """Who the key belongs to, and their settings as they are now."""
    row = session.get(Owner, owner.id)
    assert row is not None  # owners are never deleted
    return _account(row)


def _account(row: Owner) -> AccountOut:
    return AccountOut(
        id=row.id,
        name=row.name,
        webhook_url=row.webhook_url,
        daily_enrollment_limit=row.daily_enrollment_limit,
    )


@router.put("/enrollment-limit/", response_model=AccountOut)
def set_enrollment_limit(
    body: EnrollmentLimitIn, owner: OwnerDep, session: SessionDep
) -> AccountOut:
    """Bulk enrollment starts at most this many sequences a day (UTC); the rest of a job
    waits for the next days, in order. Null removes the limit."""
    row = session.get(Owner, owner.id)
    assert row is not None
    row.daily_enrollment_limit = body.daily_enrollment_limit
    session.commit()
    return _account(row)


@router.put("/webhook/", response_model=WebhookOut)
def set_webhook(
    body: WebhookIn, owner: OwnerDep, session: SessionDep, settings: SettingsDep
) -> WebhookOut:
    """Set (or clear, with null) the reminder webhook. A new signing secret is made and shown
    once: verify `X-Nudge-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with it."""
    if body.url:
        # The same check every delivery runs, names resolved too; a name that doesn't
        # resolve yet is accepted (its DNS may come later) since delivery checks again.
        why = internal_target(body.url, resolve=True, allow_private=settings.webhook_allow_private)
        if why:
            raise Unprocessable(f"url: {why}; webhooks go to public hosts")
    row = session.get(Owner, owner.id)
    assert row is not None
    row.webhook_url = body.url
    row.webhook_secret = secrets.token_urlsafe(32) if body.url else None
    session.commit()
    return WebhookOut(url=row.webhook_url, secret=row.webhook_secret)
