"""Follow-up sequences as the API sees them: start, read progress, control."""

from nudge.sequences.control import signal_sequence
from nudge.sequences.progress import latest_batch, planned_steps, sequence_progress
from nudge.sequences.start import ScheduledSequence, schedule_sequence

__all__ = [
    "ScheduledSequence",
    "latest_batch",
    "planned_steps",
    "schedule_sequence",
    "sequence_progress",
    "signal_sequence",
]
