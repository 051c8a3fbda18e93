"""GET /api/task-automation/stats/ against a hand-counted fixture, another owner beside it."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nudge.core.models import Contact, CrmEvent, Rule, RuleFiring, Task, TaskBatch
from nudge.platform.db import transaction
from tests.support import auth

URL = "/api/task-automation/stats/"
TODAY = datetime.now(UTC).date()


def noon(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), UTC)


def _rule(owner: int, name: str, active: bool, triggered: int, created: int) -> Rule:
    return Rule(
        owner_id=owner,
        name=name,
        trigger_type="activity",
        trigger_config={"activity_types": ["email_opened"]},
        task_title_template="Follow up",
        is_active=active,
        times_triggered=triggered,
        tasks_created=created,
        last_fired_at=noon(1) if triggered else None,
    )


def _task(owner: int, key: str, created: datetime, **fields: object) -> Task:
    fields.setdefault("due_at", created + timedelta(days=3))
    if fields.get("completed_at"):  # as POST /api/tasks/{id}/complete/ keeps it
        fields["hours_to_complete"] = (fields["completed_at"] - created) / timedelta(hours=1)
    return Task(
        owner_id=owner,
        title=key,
        source="test",
        idempotency_key=f"stats-{owner}-{key}",
        created_at=created,
        **fields,
    )


def seed(sessions: sessionmaker[Session], owner: int, contact: int) -> dict[str, int]:
    """Owner's data; the comments give what each row adds to the expected figures."""
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        r1, r2, r3 = (
            _rule(owner, "opened", True, 5, 5),
            _rule(owner, "idle", False, 0, 0),
            _rule(owner, "replied", True, 3, 3),
        )
        s.add_all([r1, r2, r3])
        s.flush()
        done = "completed"
        s.add_all(
            [
                # r1: 5 tasks, 3 completed in 2 h / 6 h / 10 h, 1 overdue, 1 cancelled
                _task(owner, "a", noon(2), rule_id=r1.id, status=done, priority="high",
                      completed_at=noon(2) + timedelta(hours=2)),
                _task(owner, "b", noon(2), rule_id=r1.id, status=done, priority="high",
                      completed_at=noon(2) + timedelta(hours=6)),
                _task(owner, "c", noon(29), rule_id=r1.id, status=done, priority="low",
                      completed_at=noon(29) + timedelta(hours=10)),
                _task(owner, "d", noon(0), rule_id=r1.id, priority="urgent",
                      due_at=now - timedelta(hours=1)),
                _task(owner, "e", noon(30), rule_id=r1.id, status="cancelled", priority="low"),
                # r3: 3 tasks, 2 completed in 1 h / 4 h, 1 open not yet due
                _task(owner, "f", noon(5), rule_id=r3.id, status=done, priority="medium",
                      completed_at=noon(5) + timedelta(hours=1)),
                _task(owner, "g", noon(5), rule_id=r3.id, status=done, priority="medium",
                      completed_at=noon(5) + timedelta(hours=4)),
                _task(owner, "h", noon(0), rule_id=r3.id, priority="medium",
                      due_at=now + timedelta(days=1)),
                # by hand: one overdue, one not
                _task(owner, "i", noon(40), priority="high", due_at=now - timedelta(days=2)),
                _task(owner, "j", noon(0), priority="medium", due_at=now + timedelta(hours=1)),
            ]
        )  # fmt: skip
        for kind, status in [("sequence", "running"), ("sequence", "running"),
                             ("sequence", "completed"), ("campaign", "running")]:  # fmt: skip
            s.add(TaskBatch(owner_id=owner, kind=kind, name=kind, contact_id=contact,
                            workflow_id=f"wf-{kind}", status=status, planned=4))  # fmt: skip
        s.add(Contact(owner_id=owner, external_id="cad", name="Cadence", cadence="weekly"))
        s.add(Contact(owner_id=owner, external_id="none", name="No cadence"))
        for i, state in enumerate(["scheduled", "created", "skipped"]):
            event = CrmEvent(owner_id=owner, event_id=f"e{i}", kind="activity", occurred_at=now)
            s.add(event)
            s.flush()
            s.add(RuleFiring(owner_id=owner, rule_id=r1.id, event_row_id=event.id,
                             contact_id=contact, workflow_id=f"rule-{r1.id}-{event.id}",
                             create_at=now, due_at=now, state=state))  # fmt: skip
        return {"r1": r1.id, "r2": r2.id, "r3": r3.id}


@pytest.fixture
def seeded(make_tenant, sessions):  # type: ignore[no-untyped-def]
    me, other = make_tenant(), make_tenant()
    ids = seed(sessions, me.owner_id, me.contact_id)
    seed(sessions, other.owner_id, other.contact_id)  # must never show up in `me`'s figures
    with transaction(sessions) as s:  # and some more of theirs, today
        s.add(_task(other.owner_id, "x", noon(0), status="completed"))
    return me, ids


async def test_every_figure_hand_counted(api, seeded):
    me, ids = seeded
    resp = await api.get(URL, headers=auth(me))
    assert resp.status_code == 200, resp.text
    body = resp.json()

    assert body["rules"] == {"total": 3, "active": 2}
    tasks = body["tasks"]
    assert tasks["total"] == 10
    assert tasks["by_status"] == {"open": 4, "completed": 5, "cancelled": 1}
    assert tasks["by_priority"] == {"low": 2, "medium": 4, "high": 3, "urgent": 1}
    assert tasks["overdue"] == 2
    assert tasks["completion_rate"] == round(5 / 9, 4)

    days = body["tasks_per_day"]
    assert len(days) == 30
    assert days[0]["date"] == (TODAY - timedelta(days=29)).isoformat()
    assert days[-1]["date"] == TODAY.isoformat()
    by_date = {d["date"]: d["created"] for d in days}
    expected = {
        TODAY: 3,
        TODAY - timedelta(days=2): 2,
        TODAY - timedelta(days=5): 2,
        TODAY - timedelta(days=29): 1,
    }  # 30 and 40 days ago: outside the chart
    assert by_date == {
        (TODAY - timedelta(days=n)).isoformat(): expected.get(TODAY - timedelta(days=n), 0)
        for n in range(30)
    }
    assert sum(by_date.values()) == 8

    rules = {r["rule_id"]: r for r in body["per_rule"]}
    assert list(rules) == [ids["r1"], ids["r2"], ids["r3"]]
    r1, r2, r3 = rules[ids["r1"]], rules[ids["r2"]], rules[ids["r3"]]
    assert (r1["times_triggered"], r1["tasks_created"], r1["tasks"]) == (5, 5, 5)
    assert (r1["completed"], r1["overdue"]) == (3, 1)
    assert r1["completion_rate"] == 0.75  # 3 / (5 - 1 cancelled)
    assert r1["overdue_rate"] == 0.2
    assert r1["median_hours_to_complete"] == 6.0  # 2, 6, 10
    assert r1["last_fired_at"] == noon(1).isoformat()
    assert r2 == {
        "rule_id": ids["r2"], "name": "idle", "trigger_type": "activity", "is_active": False,
        "times_triggered": 0, "tasks_created": 0, "tasks": 0, "completed": 0, "overdue": 0,
        "completion_rate": None, "overdue_rate": None, "median_hours_to_complete": None,
        "last_fired_at": None,
    }  # fmt: skip
    assert (r3["tasks"], r3["completed"], r3["overdue"]) == (3, 2, 0)
    assert r3["completion_rate"] == round(2 / 3, 4)
    assert r3["overdue_rate"] == 0.0
    assert r3["median_hours_to_complete"] == 2.5  # 1 and 4: the mean of the middle two

    assert body["running"] == {
        "sequences": 2, "campaign_enrollments": 1, "cadences": 1, "pending_firings": 1,
    }  # fmt: skip
    # The time-skipping test server has no visibility counts: said as null, not as zeros.
    assert body["running_workflows"] is None
    assert (body["since"], body["until"]) == (None, None)


async def test_since_until_window(api, seeded):
    me, ids = seeded
    since, until = noon(6).replace(hour=0), noon(1).replace(hour=0)  # days 6..2 ago
    resp = await api.get(
        URL, params={"since": since.isoformat(), "until": until.isoformat()}, headers=auth(me)
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # Only a, b (2 days ago) and f, g (5 days ago) were created in the window.
    assert body["tasks"]["total"] == 4
    assert body["tasks"]["by_status"] == {"open": 0, "completed": 4, "cancelled": 0}
    assert body["tasks"]["overdue"] == 0
    assert [d["date"] for d in body["tasks_per_day"]] == [
        (TODAY - timedelta(days=n)).isoformat() for n in range(6, 1, -1)
    ]
    assert [d["created"] for d in body["tasks_per_day"]] == [0, 2, 0, 0, 2]
    rules = {r["rule_id"]: r for r in body["per_rule"]}
    assert rules[ids["r1"]]["tasks"] == 2
    assert rules[ids["r1"]]["median_hours_to_complete"] == 4.0  # 2 and 6
    assert rules[ids["r1"]]["tasks_created"] == 5  # all-time counters are not windowed
    assert body["since"] == since.isoformat()


async def test_zero_everything_for_a_new_owner(api, make_tenant):
    fresh = make_tenant()
    body = (await api.get(URL, headers=auth(fresh))).json()
    assert body["rules"] == {"total": 0, "active": 0}
    assert body["tasks"]["total"] == 0
    assert body["tasks"]["completion_rate"] is None
    assert [d["created"] for d in body["tasks_per_day"]] == [0] * 30
    assert body["per_rule"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "before until"),
        ({"since": "yesterday"}, "since"),
        ({"until": "0001-01-01T00:00:00"}, "between the years 1970 and 9000"),
        ({"since": "9999-12-30T00:00:00", "until": "9999-12-31T12:00:00"}, "between the years"),
    ],
)
async def test_bad_windows_are_422(api, tenant, params, message):
    resp = await api.get(URL, params=params, headers=auth(tenant))
    assert resp.status_code == 422
    assert message in resp.text


async def test_long_and_mid_day_windows(api, seeded):
    me, _ = seeded
    # Three years: every task counts, the chart shows the last 366 days.
    since = (noon(0) - timedelta(days=3 * 365)).isoformat()
    body = (await api.get(URL, params={"since": since}, headers=auth(me))).json()
    assert body["tasks"]["total"] == 10
    assert len(body["tasks_per_day"]) == 366
    assert body["tasks_per_day"][-1]["date"] == TODAY.isoformat()
    # From noon two days ago to 06:00 yesterday: a and b (created at noon) are in, and the
    # chart's bars add up to the same total.
    window = {"since": noon(2).isoformat(), "until": (noon(1) - timedelta(hours=6)).isoformat()}
    body = (await api.get(URL, params=window, headers=auth(me))).json()
    assert body["tasks"]["total"] == 2
    assert sum(d["created"] for d in body["tasks_per_day"]) == 2
    window["since"] = (noon(2) + timedelta(minutes=1)).isoformat()  # a minute later: none
    body = (await api.get(URL, params=window, headers=auth(me))).json()
    assert body["tasks"]["total"] == 0
    assert sum(d["created"] for d in body["tasks_per_day"]) == 0


async def test_a_deleted_rules_tasks_stop_counting_for_its_id(api, tenant, sessions):
    """SQLite can reuse the id of a deleted rule: its tasks must not count for the next one."""
    with transaction(sessions) as s:
        rule = _rule(tenant.owner_id, "gone soon", True, 1, 1)
        s.add(rule)
        s.flush()
        s.add(_task(tenant.owner_id, "old", noon(3), rule_id=rule.id))
        rule_id = rule.id
    gone = await api.delete(f"/api/task-automation/rules/{rule_id}/", headers=auth(tenant))
    assert gone.status_code == 204
    with sessions() as s:
        task = s.scalar(select(Task).where(Task.owner_id == tenant.owner_id))
        assert task is not None and task.rule_id is None
    body = (await api.get(URL, headers=auth(tenant))).json()
    assert body["per_rule"] == [] and body["tasks"]["total"] == 1


async def test_needs_a_key(api):
    assert (await api.get(URL)).status_code == 401


def test_day_list_is_inclusive_of_both_ends():
    from nudge.reporting.stats import Window

    now = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    w = Window.of(1, now, None, None)
    assert (w.days[0], w.days[-1], len(w.days)) == (date(2026, 1, 31), date(2026, 3, 1), 30)
    w = Window.of(1, now, datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert w.days == [date(2026, 2, 27), date(2026, 2, 28)]  # until is exclusive


async def test_completing_through_the_api_feeds_the_median(api, tenant, sessions):
    """The complete endpoint keeps hours_to_complete, which the median reads."""
    created = datetime.now(UTC) - timedelta(hours=5)
    with transaction(sessions) as s:
        rule = _rule(tenant.owner_id, "made it", True, 1, 1)
        s.add(rule)
        s.flush()
        task = _task(tenant.owner_id, "five-hours", created, rule_id=rule.id)
        s.add(task)
        s.flush()
        ids = (rule.id, task.id)
    done = await api.post(f"/api/tasks/{ids[1]}/complete/", headers=auth(tenant))
    assert done.status_code == 200, done.text
    with sessions() as s:
        stored = s.get(Task, ids[1])
        assert stored is not None and stored.hours_to_complete is not None
        assert abs(stored.hours_to_complete - 5) < 0.05
    body = (await api.get(URL, headers=auth(tenant))).json()
    (row,) = [r for r in body["per_rule"] if r["rule_id"] == ids[0]]
    assert row["median_hours_to_complete"] == pytest.approx(5, abs=0.05)
    assert (row["completed"], row["completion_rate"]) == (1, 1.0)
