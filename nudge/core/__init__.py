"""What every capability shares, and nothing else of ours: the vocabulary (every Literal
once), ids (every workflow id, schedule id and idempotency key), typed errors, HTTP field
types, contact-event policy, database models and the template sandbox."""
