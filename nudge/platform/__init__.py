"""Plumbing: settings, database (with one owner-scoped listing helper), Temporal client and
search attributes (with the one schedule upsert), migrations, the Temporal binaries, the
process supervisor, owners with their API keys, and operations: the `nudge` CLI, health checks
and `nudge doctor` (with metrics, traces and logs as they land)."""
