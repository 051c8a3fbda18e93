"""Tasks: the one task writer every producer uses (written once per idempotency key,
counted for its rule in the same transaction), the task-writing activities' payloads and the
task API's service."""
