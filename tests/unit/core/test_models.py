from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from nudge.core.models import Task
from nudge.platform.db import transaction
from nudge.platform.owners import hash_key, owner_for_key


def test_datetimes_come_back_aware_utc(sessions, tenant):
    berlin = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with transaction(sessions) as session:
        task = Task(
            owner_id=tenant.owner_id,
            contact_id=tenant.contact_id,
            title="t",
            source="test",
            due_at=berlin,
            idempotency_key=f"tz-{tenant.owner_id}",
        )
        session.add(task)
    with sessions() as session:
        due = session.scalar(select(Task.due_at).where(Task.id == task.id))
    assert due == berlin and due.tzinfo == UTC


def test_naive_datetimes_are_refused(sessions, tenant):
    with pytest.raises(Exception, match="naive datetime"), transaction(sessions) as session:
        session.add(
            Task(
                owner_id=tenant.owner_id,
                title="t",
                source="test",
                due_at=datetime(2026, 1, 1),
                idempotency_key=f"naive-{tenant.owner_id}",
            )
        )


def test_api_keys_are_stored_hashed(sessions, tenant):
    with sessions() as session:
        owner = owner_for_key(session, tenant.api_key)
        assert owner is not None and owner.id == tenant.owner_id
        assert owner.api_key_hash == hash_key(tenant.api_key) != tenant.api_key
        assert owner_for_key(session, tenant.api_key + "x") is None
