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
