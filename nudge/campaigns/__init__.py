"""Campaigns: ordered steps, and enrolling contacts (one workflow and one batch per
campaign and contact)."""
