"""CRM integration: CRM webhooks in (connections, verified per provider, stored then applied
once) and task events out (subscriptions, the outbox and its deliveries)."""
