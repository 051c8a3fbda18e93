"""Temporal payloads of the periodic jobs: one bounded page at a time."""

from datetime import datetime

from pydantic import BaseModel


class SweepPage(BaseModel):
    """One bounded page of a periodic job: where to resume, and what it did."""

    after_id: int = 0
    now: datetime
    limit: int = 500


class SweepResult(BaseModel):
    examined: int = 0
    acted: int = 0
    last_id: int = 0
    done: bool = True

    def plus(self, other: "SweepResult") -> "SweepResult":
        return SweepResult(
            examined=self.examined + other.examined,
            acted=self.acted + other.acted,
            last_id=other.last_id,
            done=other.done,
        )


class SweepCarry(BaseModel):
    """What a periodic job hands its next run when it continues as new mid-way: the step and
    row it stopped at and the totals so far (so the history of one run stays bounded)."""

    step: int = 0
    after_id: int = 0
    total: SweepResult = SweepResult()
    pages_per_run: int = 100
