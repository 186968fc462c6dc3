"""Which peering a replica joins, from its settings (pure; kopf's side is in tests/operator)."""

from __future__ import annotations

import random
from datetime import timedelta

import kopf
import pytest

from tideflow.operator.peering import PRIORITY_RANGE, configure_peering, peering_of
from tideflow.operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def test_without_a_peering_name_the_operator_runs_standalone() -> None:
    peering = peering_of(OperatorSettings())
    assert peering.standalone
    assert peering.name is None
    assert peering.priority is None


def test_a_configured_priority_and_lifetime_are_used() -> None:
    settings = OperatorSettings(peering="tideflow", priority=7, peering_lifetime="15s")
    peering = peering_of(settings)
    assert (peering.name, peering.priority, peering.lifetime_seconds) == ("tideflow", 7, 15)
    kopf_settings = kopf.OperatorSettings()
    configure_peering(kopf_settings, peering)
    assert kopf_settings.peering.lifetime == 15
    assert kopf_settings.peering.mandatory  # no peering object: an error, not a lone leader


def test_replicas_draw_distinct_random_priorities() -> None:
    """Same-priority peers all pause in kopf: replicas must not tie."""
    rng = random.Random(19)
    settings = OperatorSettings(peering="tideflow")
    priorities = [peering_of(settings, rng).priority for _ in range(200)]
    assert len(set(priorities)) == len(priorities)
    assert all(p is not None and PRIORITY_RANGE[0] <= p <= PRIORITY_RANGE[1] for p in priorities)


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_OPERATOR_PEERING", "tideflow-ops")
    monkeypatch.setenv("TIDEFLOW_OPERATOR_PRIORITY", "3")
    monkeypatch.setenv("TIDEFLOW_OPERATOR_PEERING_LIFETIME", "30s")
    settings = OperatorSettings()
    assert (settings.peering, settings.priority) == ("tideflow-ops", 3)
    assert settings.peering_lifetime == timedelta(seconds=30)
