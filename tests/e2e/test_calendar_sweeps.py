"""Time rules and overdue escalations are due when they run, placed by the rule: a Saturday
run of a working_hours rule is due Monday 09:00 (their delay never applied, placed or not)."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from activities.periodic import PeriodicActivities
from activities.rules import TimeRuleActivities
from nudge.core.models import Rule, Task
from nudge.periodic.payloads import SweepPage
from nudge.platform.db import transaction

BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY = datetime(2027, 1, 16, 10, tzinfo=BERLIN).astimezone(UTC)
MONDAY_NINE = datetime(2027, 1, 18, 9, tzinfo=BERLIN).astimezone(UTC)


def add_rule(sessions, tenant, trigger: str, placement: str, config: dict | None = None) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        rule = Rule(owner_id=tenant.owner_id, name=f"r-{uuid.uuid4().hex[:6]}",
                    trigger_type=trigger, trigger_config=config or {},
                    task_title_template="T", delay_hours=24, placement=placement)  # fmt: skip
        session.add(rule)
        session.flush()
        return rule.id


def berlin_calendar(sessions, tenant) -> None:  # type: ignore[no-untyped-def]
    from nudge.calendar.schemas import CalendarIn
    from nudge.calendar.service import save_calendar

    body = CalendarIn.model_validate(
        {"timezone": "Europe/Berlin",
         "working_hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
    )  # fmt: skip
    with transaction(sessions) as session:
        save_calendar(session, tenant.owner_id, body)


def due_times(sessions, tenant, source: str | None = None) -> list[datetime]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        query = select(Task.due_at).where(Task.owner_id == tenant.owner_id)
        if source:
            query = query.where(Task.source == source)
        return list(session.scalars(query))


def test_overdue_escalation_is_placed_by_its_rule(sessions, make_tenant):
    sweeps = PeriodicActivities(None, sessions, "q", grace_hours=24)  # type: ignore[arg-type]
    found = {}
    for placement in ("anytime", "working_hours"):
        tenant = make_tenant()
        berlin_calendar(sessions, tenant)
        add_rule(sessions, tenant, "overdue", placement)
        with transaction(sessions) as session:
            session.add(Task(owner_id=tenant.owner_id, contact_id=tenant.contact_id,
                             title="late", status="open", due_at=SATURDAY - timedelta(days=3),
                             source="test", idempotency_key=f"test-{uuid.uuid4()}"))  # fmt: skip
        sweeps.escalate_overdue(SweepPage(now=SATURDAY, limit=100_000))
        found[placement] = due_times(sessions, tenant, "overdue")
    assert found == {"anytime": [SATURDAY], "working_hours": [MONDAY_NINE]}


def test_time_rule_run_is_placed_by_its_rule(sessions, make_tenant):
    runs = TimeRuleActivities(sessions)
    found = {}
    for placement in ("anytime", "working_hours"):
        tenant = make_tenant()
        berlin_calendar(sessions, tenant)
        config = {"cron": "0 10 * * SAT", "timezone": "Europe/Berlin", "contact_filter": {}}
        rule_id = add_rule(sessions, tenant, "time", placement, config)
        assert runs.run_time_rule(rule_id, SATURDAY) == 1
        found[placement] = due_times(sessions, tenant)
    assert found == {"anytime": [SATURDAY], "working_hours": [MONDAY_NINE]}
