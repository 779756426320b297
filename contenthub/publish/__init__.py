"""Publish planning: cadence rules, best times, holidays, weekly plans and the calendar."""
