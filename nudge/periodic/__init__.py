"""Periodic jobs as Temporal Schedules: which jobs, when, kept in sync; their paging
payloads."""
