"""Temporal payloads of task event delivery."""

from pydantic import BaseModel


class DeliveryInput(BaseModel):
    """One subscription's deliveries for one task, sent in the order they were written."""

    subscription_id: int
    task_id: int
    owner_id: int
    # Retries back off from `first_retry_seconds` (doubling, at most an hour apart) until
    # `horizon_seconds` after the first attempt; then the delivery is dead until replayed.
    horizon_seconds: float = 3 * 24 * 3600
    first_retry_seconds: float = 10
