"""Tideflow event store: the Postgres event log, projections, outbox and timers."""
