"""Recurring check-ins per contact: cadence arithmetic, payloads, and starting,
reshaping and stopping the one recurring workflow a contact has."""
