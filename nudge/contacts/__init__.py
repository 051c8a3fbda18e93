"""Contacts as the CRM sends them: upsert by external id, owner-scoped lookups, and
the changes that become events."""
