"""Rooms on two replicas sharing Postgres and Redis: convergence, access, persistence,
attributed publishes."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map

from tideflow.collab import rooms as rooms_module
from tideflow.collab.document import new_doc, roots
from tideflow.collab.fanout import NoFanout
from tideflow.collab.rooms import Room, RoomKey, document_of

from .conftest import (
    Cluster,
    Replica,
    YClient,
    definition,
    eventually,
    eventually_async,
    log_node,
)

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


async def test_catching_up_skips_updates_the_room_applied_already(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log backstop must not redo the room's own work: an update that overwrote a
    value is never "nothing new" by its state vector (it carries its delete set), so every
    catch-up applied all recent updates again and read the whole definition after each,
    a stall of the event loop (and of the relay) every few seconds while people type."""
    name = await cluster.workflow(log_node("greet"))
    seeded = new_doc(definition(name, log_node("greet")))
    await cluster.documents.seed_document(name, seeded.get_update(), draft_revision=1)
    stored = await cluster.documents.load_document(name)
    assert stored is not None
    room = Room(
        RoomKey("default", name), document_of(stored), last_id=stored.last_id,
        store=cluster.documents, fanout=NoFanout(),
    )  # fmt: skip
    editor: Doc[Any] = Doc()
    editor.apply_update(room.doc.get_update())
    for i in range(10):
        state = editor.get_state()
        first = roots(editor)[2][0]
        assert isinstance(first, Map)
        first["config"]["message"] = f"edit {i}"
        assert await room.receive(editor.get_update(state), author="alice") is not None
    reads: list[int] = []
    read = rooms_module.read_definition
    monkeypatch.setattr(rooms_module, "read_definition", lambda doc: reads.append(1) or read(doc))
    assert await room.catch_up() == 0
    assert reads == []
    assert room.definition["spec"]["nodes"][0]["config"]["message"] == "edit 9"


async def test_a_join_with_the_document_already_in_hand_is_not_an_edit(cluster: Cluster) -> None:
    """A client that opens the room with the document already (the builder's IndexedDB
    copy) answers the room's sync step 1 with an update that holds no new item but the
    whole delete set. That is not an edit: an editor's is not recorded in the log, and a
    viewer's is not refused with "permission denied" (both were, on every join)."""
    a, _ = cluster.replicas
    name = await cluster.workflow(log_node("greet"))
    alice = await joined(YClient(a.ws(name, "alice")))
    try:
        for message in ("one", "two", "three"):  # overwrites: items deleted
            node(alice, 0)["config"]["message"] = message
        await eventually_async(
            lambda: _message_in_log(cluster, name, "three"), what="the edits stored"
        )
        last = await _last_id(cluster, name)
        for who in ("bob", "vera"):
            copy: Doc[Any] = Doc()
            copy.apply_update(alice.doc.get_update())
            client = await joined(YClient(a.ws(name, who), doc=copy))
            try:
                if who == "bob":
                    # his channel handles his messages in order: an edit of his stored
                    # after the join shows what the join stored (nothing)
                    node(client, 0)["config"]["message"] = "bob's"
                    await eventually_async(
                        lambda: _message_in_log(cluster, name, "bob's"), what="bob's edit"
                    )
                    assert await _last_id(cluster, name) == last + 1
                    last += 1
                else:
                    node(alice, 0)["config"]["message"] = "seen by vera"
                    await eventually(
                        lambda c=client: node(c, 0)["config"]["message"] == "seen by vera",
                        what="vera follows",
                    )
                    assert client.denied == []
                    last += 1
            finally:
                await client.__aexit__()
    finally:
        await alice.__aexit__()


async def _last_id(cluster: Cluster, name: str) -> int:
    found = await cluster.documents.updates_after(name, 0)
    return found.last_id if found is not None else 0


async def _message_in_log(cluster: Cluster, name: str, message: str) -> bool:
    found = await cluster.documents.updates_after(name, 0)
    doc: Doc[Any] = Doc()
    if found is not None:
        if found.state:
            doc.apply_update(found.state)
        for update in found.updates:
            doc.apply_update(update.payload)
    return bool(roots(doc)[2]) and node_of(doc)["config"]["message"] == message


def node_of(doc: Doc[Any]) -> Map[Any]:
    found = roots(doc)[2][0]
    assert isinstance(found, Map)
    return found
