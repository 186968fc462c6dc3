"""Several operator replicas, one active (kopf peering), against kmock and a real gateway.

A replica that sees a live peer with a higher priority in the ClusterKopfPeering pauses:
it handles no resource until that peer is gone (stopped, or dead: its keep-alive expired),
then it takes over. The other replicas are written into the peering's status as a real
replica would (kopf keeps per-process state, so two operators in one test process do not
stop cleanly). Every request the replica sends is allowed by the operator's RBAC.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Cluster, Gateway, ScriptedLag, eventually, running_operator
from .test_operator_kmock import assert_rbac_allows_everything_sent, example, ready

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PEERING = "tideflow-test"
PEERINGS = "/apis/kopf.dev/v1/clusterkopfpeerings"


async def create_peering(cluster: Cluster, status: dict[str, Any] | None = None) -> None:
    body: dict[str, Any] = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering"}
    body["metadata"] = {"name": PEERING, "uid": "peering", "resourceVersion": "1"}
    if status is not None:
        body["status"] = status
    response = await cluster.session.post(PEERINGS, json=body)
    assert response.status < 300, await response.text()


async def peers(cluster: Cluster) -> dict[str, Any]:
    response = await cluster.session.get(f"{PEERINGS}/{PEERING}")
    assert response.status == 200, await response.text()
    return dict((await response.json()).get("status") or {})


def logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return sum(text in record.getMessage() for record in caplog.records)

    return count


def published(cluster: Cluster, name: str) -> Callable[[], Awaitable[dict[str, Any] | None]]:
    async def check() -> dict[str, Any] | None:
        resource = await cluster.get("workflows", "default", name)
        return resource if (ready(resource) or {}).get("status") == "True" else None

    return check


def workflow(name: str) -> dict[str, Any]:
    document = copy.deepcopy(example("hello.yaml"))
    document["metadata"] = {"name": name, "namespace": "default"}
    return document


async def test_a_standby_waits_for_the_leader_and_takes_over_when_it_dies(
    cluster: Cluster, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader that died without a goodbye (its entry stays) holds the standby for its
    lifetime only; then the standby handles the resource applied meanwhile, not before."""
    caplog.set_level(logging.INFO, logger="kopf")
    ghost = {"priority": 2**31, "lifetime": 8, "lastseen": datetime.now(UTC).isoformat()}
    await create_peering(cluster, {"ghost-leader": ghost})
    async with running_operator(
        cluster, gateway.url, ScriptedLag(), wait_ready=False, peering=PEERING, priority=5
    ):
        mine = await eventually(lambda: _entries_with_priority(cluster, 5))
        assert len(mine) == 1  # its keep-alive is in the peering's status
        await cluster.apply("workflows", workflow("waits"))
        await eventually(logged(caplog, "Resuming operations"), timeout=30)
        resumed = next(r.created for r in caplog.records if "Resuming" in r.getMessage())
        await eventually(published(cluster, "waits"))
        stored = await gateway.workflow("waits")
        assert stored is not None
        created = datetime.fromisoformat(stored["createdAt"]).timestamp()
        assert created >= resumed, "the standby handled a resource while the leader lived"
        assert created - float(ghost_seen(ghost)) >= 8 - 1  # not before the leader expired
    assert "ghost-leader" not in await peers(cluster)  # the dead entry was cleaned up
    assert_rbac_allows_everything_sent(cluster, by_test=set())


def ghost_seen(ghost: dict[str, Any]) -> float:
    return datetime.fromisoformat(ghost["lastseen"]).timestamp()


async def test_the_leader_handles_at_once_and_leaves_the_peering_when_it_stops(
    cluster: Cluster, gateway: Gateway
) -> None:
    """With only a lower-priority standby alive, a replica is the leader: it handles what
    is applied, and a clean stop takes its entry out so the standby resumes at once."""
    standby = {"priority": 1, "lifetime": 60, "lastseen": datetime.now(UTC).isoformat()}
    await create_peering(cluster, {"standby": standby})
    async with running_operator(
        cluster, gateway.url, ScriptedLag(), wait_ready=False, peering=PEERING, priority=9
    ):
        await eventually(lambda: _entries_with_priority(cluster, 9))
        await cluster.apply("workflows", workflow("led"))
        await eventually(published(cluster, "led"), timeout=15)  # well within the lifetime
        assert "standby" in await peers(cluster)  # a live peer is never cleaned away
    assert not await _entries_with_priority(cluster, 9)
    assert await gateway.workflow("led") is not None
    assert_rbac_allows_everything_sent(cluster, by_test=set())


async def _entries_with_priority(cluster: Cluster, priority: int) -> list[str]:
    return [
        identity
        for identity, info in (await peers(cluster)).items()
        if (info or {}).get("priority") == priority
    ]
