"""Plumbing: settings, database, Temporal client and search attributes (with the one
schedule upsert), migrations, the Temporal binaries, the process supervisor, the `nudge` CLI and
owners with their API keys."""
