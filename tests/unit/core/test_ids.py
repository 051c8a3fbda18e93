"""Every id and key format: made from its parts, read back into them, and never readable as
another format (a rule firing's id must not pass for a schedule's, a cadence key for a
recurring workflow's id)."""

from datetime import UTC, date, datetime

import pytest

from nudge.core import ids

SAMPLES = {
    "SEQUENCE": ids.sequence_workflow_id(3, 42, "standard"),
    "RECURRING": ids.recurring_workflow_id(3, 42),
    "DELIVERY": ids.delivery_workflow_id(5, 42),
    "DEFINED_SEQUENCE": ids.defined_sequence_workflow_id(3, 42, 5),
    "ENROLL_JOB": ids.enroll_job_workflow_id(8),
    "DEFINED_STEP_KEY": ids.defined_step_key(12, "intro-call"),
    "RULE_FIRING": ids.rule_firing_workflow_id(7, 901),
    "REMINDER": ids.reminder_workflow_id(55),
    "CAMPAIGN": ids.campaign_workflow_id(9, 42),
    "TIME_RULE_RUN": ids.time_rule_run_id(7),
    "PERIODIC_RUN": ids.periodic_run_id("auto-schedule-overdue-tasks"),
    "RULE_SCHEDULE": ids.rule_schedule_id(7),
    "SEQUENCE_STEP_KEY": ids.sequence_step_key(12, 4),
    "CADENCE_KEY": ids.cadence_key(3, 42, date(2027, 2, 28)),
    "CAMPAIGN_STEP_KEY": ids.campaign_step_key(9, 42, 5),
    "TIME_RULE_KEY": ids.time_rule_key(7, datetime(2027, 1, 4, 9, 0, tzinfo=UTC), 42),
    "OVERDUE_KEY": ids.overdue_key(55),
    "MANUAL_KEY": ids.manual_key("0b6f3c1e-2f7d-4b5a-9a51-1f1e2d3c4b5a"),
    "STATUS_PATCH_EVENT": ids.status_patch_event_id(42, "0123456789abcdef0123456789abcdef"),
}

# What running workflows and stored rows already hold: these strings never change.
EXACT = {
    "SEQUENCE": "sequence-3-42-standard",
    "RECURRING": "recurring-3-42",
    "DELIVERY": "webhooks-5-task-42",
    "DEFINED_SEQUENCE": "sequence-3-42-def-5",
    "ENROLL_JOB": "enroll-job-8",
    "DEFINED_STEP_KEY": "batch-12-stepid-intro-call",
    "RULE_FIRING": "rule-7-901",
    "REMINDER": "reminder-task-55",
    "CAMPAIGN": "campaign-9-42",
    "TIME_RULE_RUN": "rule-run-7",
    "PERIODIC_RUN": "periodic-auto-schedule-overdue-tasks",
    "RULE_SCHEDULE": "rule-schedule-7",
    "SEQUENCE_STEP_KEY": "batch-12-step-4",
    "CADENCE_KEY": "recurring-3-42-2027-02-28",
    "CAMPAIGN_STEP_KEY": "campaign-9-42-step-5",
    "TIME_RULE_KEY": "time-rule-7-20270104T0900-42",
    "OVERDUE_KEY": "overdue-55",
    "MANUAL_KEY": "api-0b6f3c1e-2f7d-4b5a-9a51-1f1e2d3c4b5a",
    "STATUS_PATCH_EVENT": "contact-42-status-0123456789abcdef0123456789abcdef",
}


def test_every_format_has_a_sample() -> None:
    assert set(SAMPLES) == set(ids.FORMATS) == set(EXACT)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_formats_are_the_ones_in_use(name: str) -> None:
    assert SAMPLES[name] == EXACT[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_id_round_trips(name: str) -> None:
    fmt = ids.FORMATS[name]
    parts = fmt.parse(SAMPLES[name])
    assert parts is not None and set(parts) == set(fmt.fields)
    assert fmt.make(**parts) == SAMPLES[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_no_id_reads_as_another_format(name: str) -> None:
    others = [other for other, fmt in ids.FORMATS.items() if other != name]
    assert [other for other in others if ids.FORMATS[other].parse(SAMPLES[name])] == []


def test_a_stranger_is_no_id() -> None:
    assert all(fmt.parse("sequence-3-42") is None for fmt in ids.FORMATS.values())
    assert ids.SEQUENCE.parse("sequence-3-42-standard-extra") is None
