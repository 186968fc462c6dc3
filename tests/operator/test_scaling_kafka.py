"""End to end against the real Kafka: lag driven up by producing to a task topic and down by
consuming in the executors' group; the operator's decisions and its patches to the mock
Kubernetes API follow.

The first test calls one look at a time with a controlled clock, so cooldowns are exact;
the second runs the whole operator (kopf, timers) and watches the Deployment move.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tideflow.operator.kube import DeploymentScale
from tideflow.operator.lag import KafkaLag
from tideflow.operator.pools import PoolNames, look

from .conftest import Cluster, Gateway, eventually, running_operator
from .test_operator_kmock import deployment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

QUEUE = "work"
GROUP = f"tideflow-executor.{QUEUE}"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Queue:
    """A task topic of its own on the real broker, and the executors' group reading it."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"optest{uuid.uuid4().hex[:8]}"
        self.topic = f"{self.prefix}.tasks.{QUEUE}"
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, 4, 1)])
        finally:
            await admin.close()
        await self.producer.start()

    async def produce(self, count: int) -> None:
        for index in range(count):
            await self.producer.send(self.topic, b"task", key=f"run-{index}".encode())
        await self.producer.flush()

    async def consume(self, count: int) -> None:
        """Take `count` tasks and commit them, as executors do once their results are sent.

        A consumer per call, stopped (leaving the group) before the lag is looked at, so
        no fetch of it is in flight at the end of the test.
        """
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=64,  # a few messages per fetch: none read ahead
        )
        await consumer.start()
        try:
            taken = 0
            while taken < count:
                batch = await consumer.getmany(timeout_ms=500, max_records=count - taken)
                taken += sum(len(messages) for messages in batch.values())
            await consumer.commit()
        finally:
            await consumer.stop()

    async def close(self) -> None:
        await self.producer.stop()


@pytest.fixture
async def queue(kafka_bootstrap: str) -> AsyncIterator[Queue]:
    created = Queue(kafka_bootstrap)
    await created.start()
    yield created
    await created.close()


@pytest.fixture
async def kafka_lag(kafka_bootstrap: str) -> AsyncIterator[KafkaLag]:
    reader = KafkaLag(kafka_bootstrap)
    await reader.start()
    yield reader
    await reader.close()


POLICY: dict[str, Any] = {
    "queue": QUEUE,
    "deployment": "executor-work",
    "minReplicas": 1,
    "maxReplicas": 6,
    "targetLagPerReplica": 10,
    "tolerance": 0.1,
    "scaleUpCooldown": "30s",
    "scaleDownCooldown": "2m",
    "maxScaleUpStep": 2,
    "maxScaleDownStep": 3,
    "scaleToZero": True,
    "idleBeforeZero": "5m",
}


async def test_decisions_follow_the_real_lag(
    cluster: Cluster, queue: Queue, kafka_lag: KafkaLag
) -> None:
    """Each look: the real lag, the Deployment's replicas, the decision, the patch."""
    await cluster.apply("deployments", deployment("executor-work", "work", 1))
    replicas = await DeploymentScale.connect(cluster.url)
    names = PoolNames(topic_prefix=queue.prefix)
    status: dict[str, Any] = {}

    async def at(seconds: int) -> tuple[int | None, int, str]:
        nonlocal status
        result = await look(
            namespace="work", spec=POLICY, status=status, generation=1,
            now=T0 + timedelta(seconds=seconds), lag=kafka_lag, replicas=replicas, names=names,
        )  # fmt: skip
        status = result.status
        found = await cluster.get("deployments", "work", "executor-work")
        assert found is not None
        return status.get("lag"), found["spec"]["replicas"], status["reason"]

    try:
        assert await at(0) == (0, 1, "Steady")
        await queue.produce(55)  # wants 6: two more per look, then the up cooldown
        assert await at(10) == (55, 3, "ScaleUp")
        assert await at(20) == (55, 3, "ScaleUpCooldown")
        assert await at(40) == (55, 5, "ScaleUp")
        assert await at(75) == (55, 6, "ScaleUp")
        assert await at(160) == (55, 6, "Steady")
        await queue.produce(100)
        assert await at(170) == (155, 6, "AtMaxReplicas")
        await queue.consume(135)  # lag 20: wants 2, three fewer per look
        assert await at(180) == (20, 6, "ScaleDownCooldown")  # 2 min after the last scale-up
        assert await at(220) == (20, 3, "ScaleDown")
        assert await at(250) == (20, 3, "ScaleDownCooldown")
        assert await at(340) == (20, 2, "ScaleDown")
        assert await at(600) == (20, 2, "Steady")
        await queue.consume(20)  # idle from here
        assert await at(610) == (0, 1, "ScaleDown")
        assert await at(800) == (0, 1, "Steady")  # idle for 190 s of the 300 needed
        assert await at(910) == (0, 0, "ScaleToZero")
        assert await at(1000) == (0, 0, "Idle")
        await queue.produce(3)  # work again: from zero at once
        assert await at(1001) == (3, 1, "ScaleFromZero")
    finally:
        await replicas.close()
    patches = [
        r.data["spec"]["replicas"]
        for r in cluster.requests()
        if str(getattr(r.method, "value", r.method)).upper() == "PATCH" and r.subresource == "scale"
    ]
    assert patches == [3, 5, 6, 3, 2, 1, 0, 1]


async def test_the_operator_scales_by_the_real_lag(
    cluster: Cluster, gateway: Gateway, queue: Queue, kafka_bootstrap: str, kafka_lag: KafkaLag
) -> None:
    """kopf, its timer and the real lag: up when tasks wait, down to zero once they are done."""
    await cluster.apply("deployments", deployment("executor-work", "work", 1))
    fast = {**POLICY, "scaleUpCooldown": 0, "scaleDownCooldown": 0, "idleBeforeZero": 0}

    async def replicas(expected: int) -> bool:
        found = await cluster.get("deployments", "work", "executor-work")
        return bool(found and found["spec"]["replicas"] == expected)

    async with running_operator(
        cluster, gateway.url, kafka_lag, sync=0.3, topic_prefix=queue.prefix
    ):
        await cluster.apply(
            "workerpools",
            {
                "apiVersion": "tideflow.io/v1",
                "kind": "WorkerPool",
                "metadata": {"name": QUEUE, "namespace": "work"},
                "spec": fast,
            },
        )
        await queue.produce(60)
        await eventually(lambda: replicas(6))
        await queue.consume(60)
        await eventually(lambda: replicas(0))
        await queue.produce(1)
        await eventually(lambda: replicas(1))
    patches = [
        r.data["spec"]["replicas"]
        for r in cluster.requests()
        if str(getattr(r.method, "value", r.method)).upper() == "PATCH" and r.subresource == "scale"
    ]
    ups = patches[: patches.index(6) + 1]
    assert all(b - a <= 2 for a, b in pairwise([1, *ups])), patches  # the step
    assert patches[-2:] == [0, 1], patches
