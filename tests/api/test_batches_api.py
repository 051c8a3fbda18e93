"""GET /api/task-automation/batches/: filters, sorting, progress counts, other owners."""

from datetime import UTC, datetime, timedelta

import pytest

from nudge.core.models import Contact, Task, TaskBatch
from nudge.platform.db import transaction
from tests.support import auth

URL = "/api/task-automation/batches/"


@pytest.fixture
def batches(make_tenant, sessions):  # type: ignore[no-untyped-def]
    """Three of mine (two contacts), one of another owner's."""
    me, other = make_tenant(), make_tenant()
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        second = Contact(owner_id=me.owner_id, external_id="c-2", name="Grace")
        s.add(second)
        s.flush()
        # Created in this order; names, states and age each sort differently.
        rows = {
            "mike": TaskBatch(owner_id=me.owner_id, kind="sequence", name="mike",
                              contact_id=me.contact_id, workflow_id="w-m", planned=4),
            "alpha": TaskBatch(owner_id=me.owner_id, kind="campaign", name="alpha",
                               contact_id=second.id, workflow_id="w-a", planned=2,
                               status="completed", finished_at=now),
            "zulu": TaskBatch(owner_id=me.owner_id, kind="sequence", name="zulu",
                              contact_id=second.id, workflow_id="w-z", planned=4,
                              status="cancelled", finished_at=now),
            "kilo": TaskBatch(owner_id=me.owner_id, kind="sequence", name="kilo",
                              contact_id=me.contact_id, workflow_id="w-k", planned=4),
            "theirs": TaskBatch(owner_id=other.owner_id, kind="sequence", name="theirs",
                                contact_id=other.contact_id, workflow_id="w-t", planned=4),
        }  # fmt: skip
        for batch in rows.values():  # one at a time: ids follow the order above
            s.add(batch)
            s.flush()
        # mike: 3 of 4 written, 1 completed, 1 cancelled → (1 + 1) / 4 planned = 50 %
        # alpha: 2 written, both completed → 100 %; zulu: 1 written, open → 0 %; kilo: none
        tasks = [("mike", "completed"), ("mike", "cancelled"), ("mike", "open"),
                 ("alpha", "completed"), ("alpha", "completed"),
                 ("zulu", "open"), ("theirs", "completed")]  # fmt: skip
        for i, (name, status) in enumerate(tasks):
            b = rows[name]
            s.add(Task(owner_id=b.owner_id, title=name, source="test", status=status,
                       due_at=now + timedelta(days=1), batch_id=b.id,
                       idempotency_key=f"batches-{me.owner_id}-{i}"))  # fmt: skip
        ids = {name: b.id for name, b in rows.items()}
        grace = second.id
    return me, ids, grace


async def names(api, me, **params) -> list[str]:  # type: ignore[no-untyped-def]
    resp = await api.get(URL, params=params, headers=auth(me))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["items"])
    return [b["name"] for b in body["items"]]


async def test_progress_counts(api, batches):
    me, _, _ = batches
    body = (await api.get(URL, headers=auth(me))).json()
    rows = {b["name"]: b for b in body["items"]}
    assert set(rows) == {"mike", "alpha", "zulu", "kilo"}  # never another owner's
    pick = ("planned", "created", "completed", "cancelled", "percent")
    assert [rows["mike"][k] for k in pick] == [4, 3, 1, 1, 50]
    assert [rows["alpha"][k] for k in pick] == [2, 2, 2, 0, 100]
    # An ended batch is measured against what it did write.
    assert [rows["zulu"][k] for k in pick] == [4, 1, 0, 0, 0]
    assert [rows["kilo"][k] for k in pick] == [4, 0, 0, 0, 0]


async def test_filters_and_sorting(api, batches):
    me, _, grace = batches
    assert await names(api, me) == ["kilo", "zulu", "alpha", "mike"]  # newest first
    assert await names(api, me, sort="created_at") == ["mike", "alpha", "zulu", "kilo"]
    assert await names(api, me, sort="name") == ["alpha", "kilo", "mike", "zulu"]
    assert await names(api, me, sort="-name") == ["zulu", "mike", "kilo", "alpha"]
    # By state, newest first within one: cancelled < completed < running.
    assert await names(api, me, sort="status") == ["zulu", "alpha", "kilo", "mike"]
    assert await names(api, me, sort="-status") == ["kilo", "mike", "alpha", "zulu"]
    assert await names(api, me, kind="sequence") == ["kilo", "zulu", "mike"]
    assert await names(api, me, kind="campaign") == ["alpha"]
    assert await names(api, me, status="running") == ["kilo", "mike"]
    assert await names(api, me, contact_id=grace, sort="name") == ["alpha", "zulu"]
    assert await names(api, me, kind="sequence", status="cancelled", contact_id=grace) == ["zulu"]
    assert await names(api, me, contact_id=me.contact_id, status="completed") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "bulk"}, "kind"),
        ({"status": "done"}, "status"),
        ({"sort": "percent"}, "sort"),
        ({"contact_id": 0}, "contact_id"),
    ],
)
async def test_bad_filters_are_422(api, tenant, params, field):
    resp = await api.get(URL, params=params, headers=auth(tenant))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == field
