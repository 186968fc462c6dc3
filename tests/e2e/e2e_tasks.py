"""Tasks the end-to-end executors load (`--module e2e_tasks`)."""

from __future__ import annotations

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
