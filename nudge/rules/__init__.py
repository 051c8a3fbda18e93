"""Automation rules: triggers and their configs, rendering a rule's task, saving and
previewing rules, time-rule Schedules, and CRM events in (stored once, firing matching rules,
telling running sequences)."""
