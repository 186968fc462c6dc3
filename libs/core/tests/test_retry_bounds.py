"""Retry backoff stays a capped wait however many attempts a policy allows."""

from datetime import timedelta

import pytest

from tideflow.core import RetryPolicy, backoff
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("attempt", [60, 1025, 10**6])
def test_late_attempts_wait_the_max_interval(attempt: int) -> None:
    """2**(attempt-1) seconds overflowed a timedelta (attempt 60) or a float (1025)."""
    policy = RetryPolicy(max_attempts=10**7)
    wait = backoff(policy, "run", "step", attempt)
    assert timedelta(seconds=48) <= wait <= policy.max_interval


def test_early_attempts_are_unchanged() -> None:
    policy = RetryPolicy(max_attempts=10)
    waits = [backoff(policy, "r", "s", n) for n in range(1, 7)]
    for n, wait in enumerate(waits, start=1):  # 1s, 2s, 4s, ... less up to 20 % jitter
        assert timedelta(seconds=0.8 * 2 ** (n - 1)) <= wait <= timedelta(seconds=2 ** (n - 1))
    assert waits == [backoff(policy, "r", "s", n) for n in range(1, 7)]


def test_a_long_retry_policy_runs_to_its_last_attempt() -> None:
    run = LocalRun(
        {
            "apiVersion": "tideflow.io/v1",
            "kind": "Workflow",
            "metadata": {"name": "stubborn"},
            "spec": {
                "nodes": [
                    {"id": "f", "type": "function", "config": {"name": "flaky"},
                     "retry": {"maxAttempts": 70, "initialInterval": "1s", "maxInterval": "1h"}}
                ]
            },
        }
    )  # fmt: skip
    run.start({})
    for _ in range(69):
        run.fail("f")
        run.advance(timedelta(hours=1))
    assert run.state.steps["f"].attempt == 70
    run.complete("f", "done")
    assert run.state.status.value == "succeeded"
