"""Stats: SQL aggregates over indexed columns, windows, and Temporal's own running
counts."""
