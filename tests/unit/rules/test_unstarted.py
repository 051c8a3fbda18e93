"""The API's retry of events stored while Temporal was away: it stops a round only while
Temporal (or the database) is still away, one contact's own failure holds up no other, and an
event that fails while its contact is being retried is not forgotten."""

from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from nudge.rules import events
from nudge.rules.events import Unstarted


class Calls:
    def __init__(self, failures: dict[int, BaseException]) -> None:
        self.failures, self.seen = failures, []  # type: list[int]
        self.during: Any = None

    async def __call__(self, client: Any, sessions: Any, queue: str, owner: int, contact: int):  # type: ignore[no-untyped-def]
        self.seen.append(contact)
        if self.during:
            self.during(contact)
        if contact in self.failures:
            raise self.failures[contact]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(failures: dict[int, BaseException]) -> Calls:
        fake = Calls(failures)
        monkeypatch.setattr(events, "finish_unprocessed", fake)
        return fake

    return install


async def test_temporal_still_away_ends_the_round_and_keeps_the_contact(calls) -> None:  # type: ignore[no-untyped-def]
    fake = calls({2: RPCError("down", RPCStatusCode.UNAVAILABLE, b"")})
    pending = Unstarted()
    for contact in (1, 2, 3):
        pending.add(1, contact)
    assert await pending.retry(None, None, "q") == 2  # type: ignore[arg-type]
    assert fake.seen == [1, 2]  # 3 waits: Temporal is still away
    assert sorted(pending._contacts) == [(1, 2), (1, 3)]


async def test_one_contacts_own_failure_holds_up_no_other(calls) -> None:  # type: ignore[no-untyped-def]
    fake = calls({1: ValueError("a bad row")})
    pending = Unstarted()
    for contact in (1, 2):
        pending.add(1, contact)
    assert await pending.retry(None, None, "q") == 0  # type: ignore[arg-type]
    assert fake.seen == [1, 2]  # 1 is left to the reconcile


async def test_an_event_failing_during_its_contacts_retry_stays_listed(calls) -> None:  # type: ignore[no-untyped-def]
    pending = Unstarted()
    fake = calls({})
    fake.during = lambda contact: pending.add(1, contact)  # a new event of it failed meanwhile
    pending.add(1, 7)
    assert await pending.retry(None, None, "q") == 1  # type: ignore[arg-type]
    assert list(pending._contacts) == [(1, 7)]
