"""Every word Nudge's data, payloads and HTTP bodies share, defined once.

Literals, not enums: they validate in pydantic, show as enums in OpenAPI, are checked by the
type checker, and store as the plain strings the database has always held."""

from typing import Final, Literal, get_args

Priority = Literal["low", "medium", "high", "urgent"]
TaskStatus = Literal["open", "completed", "cancelled"]
ReminderStatus = Literal["none", "scheduled", "delivering", "delivered", "skipped", "failed"]

BatchKind = Literal["sequence", "campaign"]
BatchStatus = Literal["running", "completed", "cancelled", "stopped"]
# How a batch ends (a running one has not).
BatchEnd = Literal["completed", "cancelled", "stopped"]

ContactStatus = Literal["lead", "prospect", "active", "inactive", "lost"]
Cadence = Literal["daily", "weekly", "biweekly", "monthly", "quarterly"]

SequenceType = Literal["standard", "aggressive", "gentle"]
SequenceState = Literal["running", "paused", "completed", "cancelled", "stopped"]

# Custom sequences (definitions a user builds): what a step asks of the person, what its
# wait counts from, and what happens to one step of one enrollment.
StepKind = Literal["call", "email", "linkedin", "todo"]
StepAnchor = Literal["enrollment", "previous_due", "previous_completed"]
OnMaxWait = Literal["create", "end"]
StepState = Literal["pending", "waiting", "creating", "created", "skipped"]
# A change to a definition's steps: running enrollments keep their version, or adopt the new
# one for the steps they have not created yet.
ApplyToRunning = Literal["none", "future_steps"]
EnrollJobStatus = Literal["running", "waiting", "completed", "failed"]
EnrollOutcome = Literal["pending", "enrolled", "already_enrolled", "skipped", "failed"]

# Calendar-aware timing: where a due time may land once its wait is counted (anytime: where
# the wait ends; working_hours: the next open slot of the owner's calendar; contact_hours: the
# same hours read in the contact's zone; best_time: the contact's busiest engagement hour).
Placement = Literal["anytime", "working_hours", "contact_hours", "best_time"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# CRM integration: whose webhooks come in, which task events go out, and where an outgoing
# delivery stands (retrying for up to three days, then dead until replayed).
Provider = Literal["hubspot", "twenty", "standard"]
TaskEventType = Literal[
    "task.created",
    "task.updated",
    "task.completed",
    "task.cancelled",
    "task.overdue",
    "task.reminder_due",
]
DeliveryStatus = Literal["pending", "retrying", "delivered", "dead"]
InboundStatus = Literal["pending", "processed", "ignored", "failed"]

TriggerType = Literal["activity", "status_change", "cadence", "time", "overdue"]
ActivityType = Literal[
    "email_opened",
    "email_clicked",
    "email_replied",
    "form_submitted",
    "meeting_booked",
    "call_logged",
    "page_visited",
]
EventKind = Literal["activity", "status_change"]
FiringState = Literal["scheduled", "created", "skipped", "cancelled"]
FiringEnd = Literal["created", "skipped", "cancelled"]
StepRunState = Literal["created", "skipped"]
EnrollmentState = Literal["running", "completed", "stopped", "cancelled"]
RecurringState = Literal["running", "stopped"]

PeriodicJob = Literal["escalate_overdue", "remind_due", "reconcile_recurring", "process_automation"]

PRIORITIES: Final = get_args(Priority)
TASK_STATUSES: Final = get_args(TaskStatus)
CONTACT_STATUSES: Final = get_args(ContactStatus)
CADENCES: Final = get_args(Cadence)
SEQUENCE_TYPES: Final = get_args(SequenceType)
TRIGGER_TYPES: Final = get_args(TriggerType)
ACTIVITY_TYPES: Final = get_args(ActivityType)
PLACEMENTS: Final = get_args(Placement)
PROVIDERS: Final = get_args(Provider)
TASK_EVENT_TYPES: Final = get_args(TaskEventType)
WEEKDAYS: Final = get_args(Weekday)  # in date.weekday() order

# In a trigger's config: matches any activity type or status.
ANY: Final = "*"

# A contact that replies or books a meeting needs no more nudging: sequences and campaign
# enrollments end. Becoming a customer (active) or lost ends them too.
SEQUENCE_ENDING_ACTIVITIES: Final = frozenset({"email_replied", "meeting_booked"})
SEQUENCE_ENDING_STATUSES: Final = frozenset({"active", "lost"})
# Recurring check-ins go on for customers; they end, and the cadence is cleared, for these.
CADENCE_ENDING_STATUSES: Final = frozenset({"lost", "inactive"})

# Task sources that are fixed words (others carry an id: rule:7, sequence:gentle, …).
OVERDUE_SOURCE: Final = "overdue"
MANUAL_SOURCE: Final = "api"

# What a person can do to a running sequence (API and web page).
SequenceAction = Literal["pause", "resume", "cancel"]
