"""Tasks the end-to-end executors load (`--module e2e_tasks`)."""

from __future__ import annotations

import asyncio

from tideflow.sdk import task


@task("inc")
def inc(value: int) -> int:
    return value + 1


@task("one")
async def one(_: object) -> int:
    return 1


@task("sum")
def total(values: list[int]) -> int:
    return sum(values)


@task("slow_inc")
async def slow_inc(value: int) -> int:
    """Long enough that crashes land while steps are running."""
    await asyncio.sleep(0.05)
    return value + 1


_flaky_seen: set[str] = set()
_slow_seen: set[str] = set()


@task("flaky_once")
def flaky_once(run_id: str) -> str:
    """Fails the first call for each run (see tests/timer_mix.py)."""
    if run_id not in _flaky_seen:
        _flaky_seen.add(run_id)
        raise RuntimeError("first call fails")
    return run_id


@task("slow_once")
async def slow_once(run_id: str) -> str:
    """The first call for each run outlives its step's timeout (see tests/timer_mix.py)."""
    if run_id not in _slow_seen:
        _slow_seen.add(run_id)
        await asyncio.sleep(5)
    return run_id
