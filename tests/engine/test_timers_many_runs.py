"""120 runs of one workflow wait on delays, retry backoffs, step, signal and approval
timeouts at once on the in-process engine: every run ends as its input says."""

from __future__ import annotations

import pytest

from .. import timer_mix
from .conftest import Engine

pytestmark = pytest.mark.integration

RUNS = 120


async def test_concurrent_runs_keep_their_own_timers(engine: Engine) -> None:
    engine.registry.register("flaky_once", timer_mix.flaky_once())
    engine.registry.register("slow_once", timer_mix.slow_once())
    modes = await timer_mix.start_all(engine, RUNS)
    await timer_mix.check_all(engine, modes, timeout=120)
