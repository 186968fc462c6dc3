"""The operator reads the lag of the topic and group the executors actually use."""

from __future__ import annotations

import pytest

from tideflow.bus import Topics
from tideflow.executor.app import group_for
from tideflow.operator.pools import PoolNames
from tideflow.operator.resources import WorkerPoolSpec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("prefix", "queue"), [("tideflow", "default"), ("t1", "llm-gpu_2")])
def test_default_topic_and_group_are_the_executors(prefix: str, queue: str) -> None:
    spec = WorkerPoolSpec(queue=queue, deployment="executor")
    names = PoolNames(topic_prefix=prefix)
    assert names.topic(spec) == Topics(prefix=prefix).tasks(queue)
    assert names.group(spec) == group_for(queue)


def test_explicit_topic_and_group_win() -> None:
    spec = WorkerPoolSpec(queue="q", deployment="d", topic="other.tasks.q", consumer_group="g")
    assert (PoolNames().topic(spec), PoolNames().group(spec)) == ("other.tasks.q", "g")
