"""Messages as large as the engine's limits allow still travel over Kafka.

The engine lets a rendered step config reach `TIDEFLOW_LIMITS_EVENT_BYTES` (4 MiB) and a
run input `TIDEFLOW_LIMITS_INPUT_BYTES` (1 MiB, plus its definition in the StartRun), but
Kafka's producers and topics refuse a record over 1 MiB by default. Such a message could
never be published: the scheduler left it to the outbox relay, which failed on it (and
on the 499 rows claimed with it) every lease, and the run never moved again.
"""

from __future__ import annotations

import pytest

from .conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def big_config_workflow(name: str) -> dict[str, object]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"nodes": [{"id": "big", "type": "function",
                            "config": {"name": "one",
                                       "input": {"a": "{{ input.s }}", "b": "{{ input.s }}"}}}],
                 "output": "{{ nodes.big.output }}"},
    }  # fmt: skip


async def test_a_task_and_a_start_over_a_mebibyte_reach_their_consumers(stack: Stack) -> None:
    client = stack.client
    await client.publish_workflow(big_config_workflow("big-config"))
    big = await client.start("big-config", {"s": "x" * 700_000})  # a 1.4 MB task
    near_limit = await client.start("big-config", {"s": "y" * 1_040_000})  # a ~1 MiB start
    small = await client.start("big-config", {"s": "z"})
    ended = await client.wait([big, near_limit, small], timeout=60)
    assert ended[small].status == "succeeded"
    assert ended[big].status == "succeeded", ended[big]
    assert ended[big].output == 1
