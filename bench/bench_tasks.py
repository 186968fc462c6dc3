"""The step bodies of the benchmark workflows (`--module bench_tasks`).

They do nothing but return their input plus one, so a benchmark measures what the
platform adds around a step, not the step itself.
"""

from __future__ import annotations

from tideflow.sdk import task


@task("bench_inc")
def bench_inc(value: int) -> int:
    return value + 1


@task("bench_sum")
def bench_sum(values: list[int]) -> int:
    return sum(values)
