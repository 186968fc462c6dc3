"""Tideflow core: workflow definitions, expressions and the pure run state machine (no IO)."""
