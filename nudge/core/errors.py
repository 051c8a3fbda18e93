"""Errors as a vocabulary: the domain errors the API turns into clear 4xx answers, and the
typed failures activities raise and workflows (and retry policies) name."""

from typing import Final

from temporalio.exceptions import ActivityError, ApplicationError


class NudgeError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(NudgeError):
    status_code = 404


class ContactNotFound(NotFound):
    def __init__(self, contact_id: int | str) -> None:
        super().__init__(f"contact {contact_id} not found (create it with POST /api/contacts/)")


class Conflict(NudgeError):
    status_code = 409


class TemporalUnavailable(NudgeError):
    status_code = 503


class Unprocessable(NudgeError):
    status_code = 422


# Activity failure types: no retry helps, so retry policies list them as non-retryable and
# the workflow ends (or skips) with the message as its reason.
CONTACT_GONE: Final = "ContactGone"
# Also the name of nudge.core.templating.TemplateProblem: one that escaped an activity
# uncaught would read as this type, permanent too (every call site catches it today).
TEMPLATE_PROBLEM: Final = "TemplateProblem"
NO_WEBHOOK: Final = "NoWebhook"
WEBHOOK_REFUSED: Final = "WebhookRefused"
# Retrying is the point: Temporal backs off and tries again.
WEBHOOK_FAILED: Final = "WebhookFailed"
WRITE_RACE: Final = "WriteRace"

PERMANENT: Final = (CONTACT_GONE, TEMPLATE_PROBLEM, NO_WEBHOOK, WEBHOOK_REFUSED)


def permanent(kind: str, message: str) -> ApplicationError:
    """A failure no retry can fix; `kind` is one of PERMANENT."""
    assert kind in PERMANENT, kind
    return ApplicationError(message, type=kind, non_retryable=True)


def failure_kind(err: ActivityError) -> str | None:
    """The type an activity failed with (ContactGone, …), if it raised one of ours."""
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def failure_message(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)
