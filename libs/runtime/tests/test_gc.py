"""Services tune the collector once at start: what exists is frozen, thresholds set."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tideflow.runtime import tune_collector
from tideflow.settings import ObservabilitySettings


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_start_up_objects_and_sets_thresholds(restored: None) -> None:
    tune_collector((12_345, 7, 9))
    assert gc.get_threshold() == (12_345, 7, 9)
    assert gc.get_freeze_count() > 1000  # the modules and objects start-up made


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ObservabilitySettings().gc_thresholds == (10_000, 20, 20)
    monkeypatch.setenv("TIDEFLOW_GC_THRESHOLDS", "[50000, 10, 10]")
    assert ObservabilitySettings().gc_thresholds == (50_000, 10, 10)
    monkeypatch.setenv("TIDEFLOW_GC_THRESHOLDS", "[0, 10, 10]")
    with pytest.raises(ValueError, match="greater than 0"):
        ObservabilitySettings()
