"""Services run on uvloop unless `TIDEFLOW_EVENT_LOOP=asyncio` says otherwise."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from tideflow.runtime import loop_factory
from tideflow.settings import ObservabilitySettings

pytestmark = pytest.mark.unit


def _loop_type(factory: object) -> type[asyncio.AbstractEventLoop]:
    with asyncio.Runner(loop_factory=factory) as runner:  # type: ignore[arg-type]
        return type(runner.get_loop())


def test_uvloop_is_the_default() -> None:
    assert ObservabilitySettings().event_loop == "uvloop"
    assert _loop_type(loop_factory("uvloop")) is uvloop.Loop


def test_the_standard_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_EVENT_LOOP", "asyncio")
    name = ObservabilitySettings().event_loop
    assert name == "asyncio"
    assert loop_factory(name) is None
    assert not issubclass(_loop_type(loop_factory(name)), uvloop.Loop)


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        ObservabilitySettings()
