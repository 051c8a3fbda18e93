"""Nudge: CRM task automation on Temporal."""
