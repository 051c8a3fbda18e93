"""Every workflow id, schedule id and task idempotency key Nudge makes, in one place.

An id says what it is (the Temporal UI reads like our data) and dedupes: a second start of
`sequence-1-42-standard` finds the first, a retried write of `batch-7-step-2` finds its row.
These strings live in running workflows and stored rows, so a format never changes; a new one
must not be readable as an old one (tests/unit/core/test_ids.py parses each against all)."""

import re
from datetime import date, datetime
from typing import Final

NUMBER: Final = r"[0-9]+"
WORD: Final = r"[a-z_]+"


class IdFormat:
    """A template such as `rule-{rule_id}-{event_row_id}`: numbers unless a field says else."""

    def __init__(self, template: str, **patterns: str) -> None:
        self.template = template
        fields = re.findall(r"{(\w+)}", template)
        regex = re.escape(template)
        for field in fields:
            regex = regex.replace(
                re.escape("{" + field + "}"), f"(?P<{field}>{patterns.get(field, NUMBER)})"
            )
        self.fields = tuple(fields)
        self._regex = re.compile(regex)

    def make(self, **parts: object) -> str:
        return self.template.format(**parts)

    def parse(self, text: str) -> dict[str, str] | None:
        """The parts of an id in this format, or None when it is not one."""
        found = self._regex.fullmatch(text)
        return found.groupdict() if found else None


# Workflows.
SEQUENCE: Final = IdFormat("sequence-{owner_id}-{contact_id}-{sequence_type}", sequence_type=WORD)
# A custom sequence's enrollment: one per (owner, contact, definition).
DEFINED_SEQUENCE: Final = IdFormat("sequence-{owner_id}-{contact_id}-def-{definition_id}")
ENROLL_JOB: Final = IdFormat("enroll-job-{job_id}")
RECURRING: Final = IdFormat("recurring-{owner_id}-{contact_id}")
# One subscription's task events for one task, delivered in order.
DELIVERY: Final = IdFormat("webhooks-{subscription_id}-task-{task_id}")
RULE_FIRING: Final = IdFormat("rule-{rule_id}-{event_row_id}")
REMINDER: Final = IdFormat("reminder-task-{task_id}")
CAMPAIGN: Final = IdFormat("campaign-{campaign_id}-{contact_id}")
# A schedule's action id; Temporal appends the scheduled time to each run's id.
TIME_RULE_RUN: Final = IdFormat("rule-run-{rule_id}")
PERIODIC_RUN: Final = IdFormat("periodic-{schedule_id}", schedule_id=r"[a-z-]+")

# Schedules.
RULE_SCHEDULE: Final = IdFormat("rule-schedule-{rule_id}")

# Task idempotency keys (a rule firing's task is keyed by the firing's workflow id).
SEQUENCE_STEP_KEY: Final = IdFormat("batch-{batch_id}-step-{step}")
# A custom step's task: keyed by the step's stable id, so a live edit never makes it twice.
DEFINED_STEP_KEY: Final = IdFormat("batch-{batch_id}-stepid-{step_id}", step_id=r"[A-Za-z0-9_-]+")
CADENCE_KEY: Final = IdFormat(
    "recurring-{owner_id}-{contact_id}-{due_date}", due_date=r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
)
CAMPAIGN_STEP_KEY: Final = IdFormat("campaign-{campaign_id}-{contact_id}-step-{step_id}")
TIME_RULE_KEY: Final = IdFormat(
    "time-rule-{rule_id}-{run_minute}-{contact_id}", run_minute=r"[0-9]{8}T[0-9]{4}"
)
OVERDUE_KEY: Final = IdFormat("overdue-{task_id}")
MANUAL_KEY: Final = IdFormat("api-{uuid}", uuid=r"[0-9a-f-]{36}")

# The event id Nudge gives a status change sent as a contact PATCH.
STATUS_PATCH_EVENT: Final = IdFormat("contact-{contact_id}-status-{hex}", hex=r"[0-9a-f]{32}")

FORMATS: Final = {
    name: value for name, value in dict(globals()).items() if isinstance(value, IdFormat)
}


def sequence_workflow_id(owner_id: int, contact_id: int, sequence_type: str) -> str:
    return SEQUENCE.make(owner_id=owner_id, contact_id=contact_id, sequence_type=sequence_type)


def defined_sequence_workflow_id(owner_id: int, contact_id: int, definition_id: int) -> str:
    return DEFINED_SEQUENCE.make(
        owner_id=owner_id, contact_id=contact_id, definition_id=definition_id
    )


def enroll_job_workflow_id(job_id: int) -> str:
    return ENROLL_JOB.make(job_id=job_id)


def defined_step_key(batch_id: int, step_id: str) -> str:
    return DEFINED_STEP_KEY.make(batch_id=batch_id, step_id=step_id)


def delivery_workflow_id(subscription_id: int, task_id: int) -> str:
    return DELIVERY.make(subscription_id=subscription_id, task_id=task_id)


def recurring_workflow_id(owner_id: int, contact_id: int) -> str:
    return RECURRING.make(owner_id=owner_id, contact_id=contact_id)


def rule_firing_workflow_id(rule_id: int, event_row_id: int) -> str:
    return RULE_FIRING.make(rule_id=rule_id, event_row_id=event_row_id)


def reminder_workflow_id(task_id: int) -> str:
    """Also the reminder webhook's delivery id: receivers dedupe retries on it."""
    return REMINDER.make(task_id=task_id)


def campaign_workflow_id(campaign_id: int, contact_id: int) -> str:
    return CAMPAIGN.make(campaign_id=campaign_id, contact_id=contact_id)


def time_rule_run_id(rule_id: int) -> str:
    return TIME_RULE_RUN.make(rule_id=rule_id)


def periodic_run_id(schedule_id: str) -> str:
    return PERIODIC_RUN.make(schedule_id=schedule_id)


def rule_schedule_id(rule_id: int) -> str:
    return RULE_SCHEDULE.make(rule_id=rule_id)


def sequence_step_key(batch_id: int, step: int) -> str:
    return SEQUENCE_STEP_KEY.make(batch_id=batch_id, step=step)


def cadence_key(owner_id: int, contact_id: int, due: date) -> str:
    """One check-in per occurrence date."""
    return CADENCE_KEY.make(owner_id=owner_id, contact_id=contact_id, due_date=due.isoformat())


def campaign_step_key(campaign_id: int, contact_id: int, step_id: int) -> str:
    return CAMPAIGN_STEP_KEY.make(campaign_id=campaign_id, contact_id=contact_id, step_id=step_id)


def time_rule_key(rule_id: int, run_at: datetime, contact_id: int) -> str:
    """One task per rule, scheduled minute and contact: a retried or late run adds none."""
    return TIME_RULE_KEY.make(rule_id=rule_id, run_minute=f"{run_at:%Y%m%dT%H%M}",
                              contact_id=contact_id)  # fmt: skip


def overdue_key(task_id: int) -> str:
    """One escalation per overdue task, however often the sweep runs."""
    return OVERDUE_KEY.make(task_id=task_id)


def manual_key(uuid: str) -> str:
    """A task made by hand is its own request: a fresh key each time."""
    return MANUAL_KEY.make(uuid=uuid)


def status_patch_event_id(contact_id: int, hex: str) -> str:
    return STATUS_PATCH_EVENT.make(contact_id=contact_id, hex=hex)
