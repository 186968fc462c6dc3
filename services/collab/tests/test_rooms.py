"""Rooms on two replicas sharing Postgres and Redis: convergence, access, persistence,
attributed publishes."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Map

from tideflow.collab.document import roots

from .conftest import Cluster, Replica, YClient, eventually, eventually_async, log_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def node(client: YClient, index: int) -> Map[Any]:
    found = roots(client.doc)[2][index]
    assert isinstance(found, Map)
    return found


async def joined(client: YClient) -> YClient:
    await client.__aenter__()
    await eventually(client.synced.is_set, what="the first sync")
    return client


async def test_clients_on_different_replicas_converge(cluster: Cluster) -> None:
    a, b = cluster.replicas
    name = await cluster.workflow(log_node("greet"), log_node("bye", x=200))
    alice = await joined(YClient(a.ws(name, "alice")))
    bob = await joined(YClient(b.ws(name, "bob")))
    try:
        assert alice.definition() == bob.definition()
        assert [n["id"] for n in alice.definition()["spec"]["nodes"]] == ["greet", "bye"]
        # concurrent edits: different fields of one node, another node, a new edge
        node(alice, 0)["config"]["message"] = "hello"
        node(bob, 0)["ui"]["x"] = 120
        node(bob, 1)["config"]["message"] = "see you"
        roots(alice.doc)[3].append(Map({"from": "greet", "to": "bye"}))
        await eventually(lambda: alice.definition() == bob.definition(), what="convergence")
        merged = alice.definition()
        assert merged["spec"]["nodes"][0]["config"] == {"message": "hello"}
        assert merged["spec"]["nodes"][0]["ui"] == {"x": 120, "y": 0}
        assert merged["spec"]["nodes"][1]["config"] == {"message": "see you"}
        assert merged["spec"]["edges"] == [{"from": "greet", "to": "bye"}]
        # both replicas hold (and stored) the same document
        for replica in (a, b):
            shared = await replica.shared(name)
            assert shared == merged
    finally:
        await alice.__aexit__()
        await bob.__aexit__()


async def test_a_viewer_is_refused_and_changes_nothing(cluster: Cluster) -> None:
    a, b = cluster.replicas
    name = await cluster.workflow(log_node("greet"))
    vera = await joined(YClient(a.ws(name, "vera")))
    alice = await joined(YClient(b.ws(name, "alice")))
    try:
        node(vera, 0)["config"]["message"] = "defaced"
        await eventually(lambda: vera.denied, what="permission denied")
        node(alice, 0)["config"]["message"] = "edited"
        for replica in (a, b):
            await eventually_async(
                lambda r=replica: _message_is(r, name, "edited"), what="the editor's change"
            )
        for replica in (a, b):
            shared = await replica.shared(name)
            assert shared["spec"]["nodes"][0]["config"]["message"] == "edited"
    finally:
        await vera.__aexit__()
        await alice.__aexit__()


async def test_the_tenant_comes_from_the_token(cluster: Cluster) -> None:
    a, _ = cluster.replicas
    name = await cluster.workflow(log_node("greet"))
    mallory = YClient(a.ws(name, "mallory"))  # admin of another tenant: no such workflow
    await mallory.__aenter__()
    try:
        await eventually(lambda: mallory.closed is not None, what="the refusal")
        assert mallory.closed == 4404
        assert not mallory.definition().get("spec")
    finally:
        await mallory.__aexit__()
    anonymous = YClient(a.ws(name, "nobody"))
    await anonymous.__aenter__()
    try:
        await eventually(lambda: anonymous.closed is not None, what="the refusal")
        assert anonymous.closed == 4401
    finally:
        await anonymous.__aexit__()


async def _message_is(replica: Replica, name: str, message: str) -> bool:
    shared = await replica.shared(name)
    return bool(shared["spec"]["nodes"][0]["config"]["message"] == message)


async def test_a_room_reloads_from_the_compacted_log(cluster: Cluster) -> None:
    a, b = cluster.replicas
    name = await cluster.workflow(log_node("greet"))
    alice = await joined(YClient(a.ws(name, "alice")))
    try:
        for i in range(20):
            node(alice, 0)["config"]["message"] = f"edit {i}"
        expected = alice.definition()
        await eventually_async(lambda: _message_is(b, name, "edit 19"), what="the last edit")
    finally:
        await alice.__aexit__()

    async def compacted() -> bool:
        loaded = await cluster.documents.load_document(name)
        return loaded is not None and not loaded.updates and loaded.upto > 0

    await eventually_async(compacted, timeout=15, what="compaction")
    again = await joined(YClient(b.ws(name, "bob")))
    try:
        assert again.definition() == expected
    finally:
        await again.__aexit__()


async def test_a_replica_that_misses_pub_sub_catches_up_from_the_log(cluster: Cluster) -> None:
    a = cluster.replicas[0]
    name = await cluster.workflow(log_node("greet"), log_node("bye", x=200))
    alice = await joined(YClient(a.ws(name, "alice")))
    bob = await joined(YClient(cluster.deaf.ws(name, "bob")))
    try:
        node(alice, 0)["config"]["message"] = "from the connected replica"
        node(bob, 1)["config"]["message"] = "from the deaf replica"
        await eventually(
            lambda: (
                alice.definition() == bob.definition()
                and alice.definition()["spec"]["nodes"][1]["config"]["message"]
                == "from the deaf replica"
                and bob.definition()["spec"]["nodes"][0]["config"]["message"]
                == "from the connected replica"
            ),
            timeout=15,
            what="convergence through the log",
        )
    finally:
        await alice.__aexit__()
        await bob.__aexit__()
