"""Hostile y-websocket messages: garbage, oversized or nonsensical updates close that
client's connection (or are refused) and never crash or wedge the room for the others."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import websockets
from pycrdt import Doc, Map, create_update_message, write_message

from tideflow.collab.document import roots

from .conftest import Cluster, YClient, eventually, eventually_async, log_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SYNC_UPDATE = b"\x00\x02"


async def send_raw(url: str, *messages: bytes) -> int | None:
    """Send `messages` on a fresh connection; the close code the server gave, if any."""
    async with websockets.connect(url, max_size=None) as ws:
        try:
            for message in messages:
                await ws.send(message)
            async with asyncio.timeout(1):  # ignored messages get no answer
                async for _ in ws:
                    pass
        except (websockets.ConnectionClosed, TimeoutError):
            pass
        return ws.close_code


async def still_edits(cluster: Cluster, name: str, message: str) -> None:
    a, b = cluster.replicas
    alice = YClient(a.ws(name, "alice"))
    await alice.__aenter__()
    try:
        await eventually(alice.synced.is_set, what="the first sync")
        node = roots(alice.doc)[2][0]
        assert isinstance(node, Map)
        node["config"]["message"] = message
        for replica in (a, b):
            await eventually_async(
                lambda r=replica: _message_is(r, name, message), what="the editor's change"
            )
    finally:
        await alice.__aexit__()


async def _message_is(replica: Any, name: str, message: str) -> bool:
    return bool((await replica.shared(name))["spec"]["nodes"][0]["config"]["message"] == message)


def foreign_update(build: Any) -> bytes:
    doc: Doc[Any] = Doc()
    with doc.transaction():
        build(doc)
    return create_update_message(doc.get_update())


GARBAGE = [
    SYNC_UPDATE + write_message(b"\xff" * 64),  # framed, but not a Yjs update
    SYNC_UPDATE + b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # a length past the end
    b"\x00\x09" + write_message(b"x"),  # an unknown sync message type
    b"\x01" + b"\xff" * 32,  # awareness that does not parse
    b"\x07" * 3,  # an unknown message type
]


async def test_garbage_never_crashes_the_room(cluster: Cluster) -> None:
    name = await cluster.workflow(log_node("greet"))
    a, _ = cluster.replicas
    codes = {}
    for token in ("alice", "vera"):
        for index, message in enumerate(GARBAGE):
            codes[token, index] = await send_raw(a.ws(name, token), message)
    # an update that does not parse closes that connection as invalid data
    assert codes["alice", 0] == codes["vera", 0] == 1007, codes
    await still_edits(cluster, name, "after garbage")


async def test_an_oversized_message_closes_with_1009(cluster: Cluster) -> None:
    name = await cluster.workflow(log_node("greet"))
    a, _ = cluster.replicas
    code = await send_raw(a.ws(name, "alice"), SYNC_UPDATE + write_message(b"\x00" * 2_000_000))
    assert code == 1009
    await still_edits(cluster, name, "after a big one")


async def test_well_formed_updates_of_the_wrong_shape(cluster: Cluster) -> None:
    """Shared types the document reader does not expect, under its own root names."""
    name = await cluster.workflow(log_node("greet"))
    a, _ = cluster.replicas
    for build in (
        lambda doc: doc.get("spec", type=Map).__setitem__("nodes", "not a list"),
        lambda doc: doc.get("nodes", type=Map).__setitem__("x", 1),
    ):
        with contextlib.suppress(Exception):
            await send_raw(a.ws(name, "alice"), foreign_update(build))
    await still_edits(cluster, name, "after a wrong shape")
