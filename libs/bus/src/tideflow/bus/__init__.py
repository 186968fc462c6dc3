"""Tideflow bus: Kafka topics and messages, and an in-process bus with the same semantics."""
