"""The executor's egress policy protects every listener its settings name."""

from __future__ import annotations

import ipaddress

import pytest

from tideflow.executor.settings import ExecutorSettings
from tideflow.nodes import EgressDenied, EgressPolicy
from tideflow.settings import EgressSettings, InfraSettings

pytestmark = pytest.mark.unit


def test_the_deployments_listeners_are_refused_even_with_loopback_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIDEFLOW_DATABASE_URL", "postgresql://u@10.0.0.5:5432/tideflow")
    monkeypatch.setenv("TIDEFLOW_KAFKA_BOOTSTRAP", "10.0.0.6:9092,10.0.0.7:9092")
    monkeypatch.setenv("TIDEFLOW_REDIS_URL", "redis://10.0.0.8:6379/0")
    monkeypatch.setenv("TIDEFLOW_GATEWAY_PORT", "9000")
    monkeypatch.setenv("TIDEFLOW_EGRESS_PROTECTED", '["10.0.0.9:7000"]')
    settings = ExecutorSettings(egress=EgressSettings(allow_loopback=True))
    policy = EgressPolicy.from_settings(settings.egress, listeners=settings.listeners())
    # the local infrastructure's controller, on whatever port `tide infra` was given
    controller = InfraSettings().kafka_controller_port
    refused = [
        ("10.0.0.5", 5432), ("10.0.0.6", 9092), ("10.0.0.7", 9092), ("10.0.0.8", 6379),
        ("127.0.0.1", 9000), ("127.0.0.2", 9000), ("10.0.0.9", 7000), ("127.0.0.1", controller),
    ]  # fmt: skip
    for host, port in refused:
        with pytest.raises(EgressDenied):
            policy.check_address(host, ipaddress.ip_address(host), port)
    for host, port in [("10.0.0.5", 443), ("127.0.0.1", 3000), ("10.0.0.9", 7001)]:
        policy.check_address(host, ipaddress.ip_address(host), port)  # reachable
