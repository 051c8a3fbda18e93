"""Reminders: where a reminder webhook may go (no internal hosts), how it is signed,
and the reminder workflow's payloads and start."""
