"""120 runs waiting on every kind of durable timer at once, through separate scheduler and
executor processes on real Kafka: every run ends as its input says."""

from __future__ import annotations

import pytest

from .. import timer_mix
from .conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RUNS = 120


async def test_concurrent_runs_keep_their_own_timers(stack: Stack) -> None:
    modes = await timer_mix.start_all(stack.client, RUNS)
    await timer_mix.check_all(stack.client, modes, timeout=180)
