"""Temporal payloads of a reminder."""

from datetime import datetime

from pydantic import BaseModel


class ReminderInput(BaseModel):
    owner_id: int
    task_id: int
    remind_at: datetime


class ReminderPlan(BaseModel):
    deliver: bool
    reason: str | None = None
    webhook: bool = False
    body: str | None = None  # the exact JSON the webhook gets (and the signature covers)
