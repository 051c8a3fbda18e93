"""HTTP bodies of the account's reminder webhook."""

from typing import Annotated
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
)

from nudge.core.types import (
    Strict,
    no_nul,
)


class AccountOut(BaseModel):
    id: int
    name: str
    webhook_url: str | None


def _webhook_url(value: str) -> str:
    try:
        parts, url = urlsplit(value), httpx.URL(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a valid URL") from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError("use an http:// or https:// URL with a host")
    return value


class WebhookIn(Strict):
    url: (
        Annotated[
            str,
            StringConstraints(max_length=2000, pattern=r"^https?://\S+$"),
            AfterValidator(no_nul),
            AfterValidator(_webhook_url),
        ]
        | None
    ) = Field(description="Where reminders are POSTed; null turns webhooks off.")


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(description="HMAC-SHA256 key for X-Nudge-Signature; shown once.")
