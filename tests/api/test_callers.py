"""API keys seen lately skip the owner look-up; bad keys are never kept; the account's
settings are read as they are now."""

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from api.deps import Caller, Callers
from tests.support import auth


@pytest.fixture
def owner_reads(sessions) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The statements that read the owners table, as they reach the database."""
    engine, seen = sessions.kw["bind"], []

    def note(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if "FROM owners" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


async def test_a_key_seen_lately_is_not_looked_up_again(api, tenant, owner_reads):
    assert (await api.get("/api/contacts/", headers=auth(tenant))).status_code == 200
    assert len(owner_reads) == 1  # the first request looks the key up
    for _ in range(3):
        assert (await api.get("/api/contacts/", headers=auth(tenant))).status_code == 200
    assert len(owner_reads) == 1


async def test_a_wrong_key_is_refused_every_time(api, tenant, owner_reads):
    wrong = {"Authorization": "Bearer not-a-key"}
    for _ in range(2):
        resp = await api.get("/api/contacts/", headers=wrong)
        assert resp.status_code == 401 and resp.json()["detail"] == "invalid API key"
    assert len(owner_reads) == 2  # never kept: each one is looked up


async def test_the_account_shows_a_changed_setting_at_once(api, tenant):
    assert (await api.get("/api/account/", headers=auth(tenant))).json()[
        "daily_enrollment_limit"
    ] is None
    put = await api.put(
        "/api/account/enrollment-limit/", json={"daily_enrollment_limit": 7}, headers=auth(tenant)
    )
    assert put.status_code == 200, put.text
    assert (await api.get("/api/account/", headers=auth(tenant))).json()[
        "daily_enrollment_limit"
    ] == 7


def test_kept_callers_expire_and_are_bounded():
    callers = Callers(max_age=60, size=2)
    for key, n in (("a", 1), ("b", 2), ("c", 3)):
        callers.keep(key, Caller(n, key))
    assert callers.get("a") is None  # the oldest went to make room
    assert callers.get("c") == Caller(3, "c")
    stale = Callers(max_age=0)
    stale.keep("a", Caller(1, "a"))
    assert stale.get("a") is None
