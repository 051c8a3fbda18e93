"""HTTP bodies of the account's reminder webhook."""

from typing import Annotated

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
from nudge.reminders.webhooks import webhook_host


class AccountOut(BaseModel):
    id: int
    name: str
    webhook_url: str | None
    daily_enrollment_limit: int | None = Field(
        None, description="Bulk enrollment starts at most this many sequences a day (UTC)."
    )


def _webhook_url(value: str) -> str:
    webhook_host(value)  # its ValueError says what to fix
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
