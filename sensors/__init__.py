"""Sensors and schedules: market-calendar gating, symbol universe sync, run-failure alerts."""
