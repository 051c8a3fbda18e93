"""Nudge: CRM task automation on Temporal.

One package per capability; each owns its services, its HTTP schemas (`schemas.py`) and its
Temporal payloads (`payloads.py`), and starts its workflows in `starts.py`. `core` holds what
every package shares, `platform` the plumbing. See README "Development" for the map."""
