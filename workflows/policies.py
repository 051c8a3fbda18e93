"""Activity timeouts and retry policies, one set for every workflow.

Errors are a vocabulary (nudge.core.errors): a permanent failure (the contact is gone, a
template can't render) is never retried; everything else backs off up to a minute apart."""

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from nudge.core.errors import PERMANENT

# A database write: short, idempotent, retried until the database is back.
WRITE_TIMEOUT: Final = timedelta(seconds=30)
WRITE_RETRY: Final = RetryPolicy(
    maximum_interval=timedelta(minutes=1), non_retryable_error_types=list(PERMANENT)
)

# The owner's webhook: from 1 s to a minute apart, ~10 tries; the outcome stays on the task.
WEBHOOK_TIMEOUT: Final = timedelta(seconds=30)
WEBHOOK_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=list(PERMANENT),
)

# One bounded page of a periodic job; one run of a time rule over its contacts.
PAGE_TIMEOUT: Final = timedelta(minutes=2)
TIME_RULE_TIMEOUT: Final = timedelta(minutes=5)
