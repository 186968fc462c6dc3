"""Publishing a shared draft: validated first, attributed to who changed what, audited."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Map

from tideflow.collab.changes import attribute, diff
from tideflow.collab.document import roots

from .conftest import Cluster, YClient, definition, eventually, eventually_async, log_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def node(client: YClient, index: int) -> Map[Any]:
    found = roots(client.doc)[2][index]
    assert isinstance(found, Map)
    return found


async def joined(client: YClient) -> YClient:
    await client.__aenter__()
    await eventually(client.synced.is_set, what="the first sync")
    return client


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}"}


async def test_a_publish_is_validated_and_attributed(cluster: Cluster) -> None:
    a, b = cluster.replicas
    name = await cluster.workflow(log_node("greet"), log_node("bye", x=200))
    await cluster.store.publish(name, published_by="carol")
    alice = await joined(YClient(a.ws(name, "alice")))
    bob = await joined(YClient(b.ws(name, "bob")))
    try:
        node(alice, 0)["config"]["message"] = "hello"
        roots(bob.doc)[3].append(Map({"from": "greet", "to": "ghost"}))  # dangling
        await eventually(lambda: alice.definition() == bob.definition(), what="convergence")
        await eventually_async(
            lambda: _shared_is(cluster, name, alice.definition()), what="stored edits"
        )
        refused = await a.http.post(f"/collab/workflows/{name}/publish", headers=auth("alice"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "INVALID_DEFINITION"
        assert any("ghost" in p["message"] for p in refused.json()["error"]["details"]["problems"])
        # a viewer may not publish
        viewer = await a.http.post(f"/collab/workflows/{name}/publish", headers=auth("vera"))
        assert viewer.status_code == 403
        # bob fixes his edge; anyone's publish now carries both contributions
        roots(bob.doc)[3][0]["to"] = "bye"
        await eventually_async(
            lambda: _shared_is(cluster, name, bob.definition()), what="the fix stored"
        )
        published = await b.http.post(f"/collab/workflows/{name}/publish", headers=auth("carol"))
        assert published.status_code == 201, published.text
        body = published.json()
        assert body["version"] == 2
        assert body["contributors"] == {
            "alice": [{"target": "node greet", "action": "changed", "fields": ["config.message"]}],
            "bob": [{"target": "edge greet->bye", "action": "added"}],
        }
        version = await cluster.store.get_version(name, 2)
        assert version.definition == alice.definition()
        assert version.published_by == "carol"
        audit = [
            r.entry for r in await cluster.store.list_audit(tenant_id="default", limit=50)
            if r.entry.resource == f"workflow/{name}/versions/2"
        ]  # fmt: skip
        assert len(audit) == 1
        assert audit[0].action == "workflow.publish"
        assert audit[0].details["contributors"] == ["alice", "bob"]
        # nothing changed since: the same version, and the attribution was consumed
        again = await a.http.post(f"/collab/workflows/{name}/publish", headers=auth("alice"))
        assert again.status_code == 200
        assert again.json()["version"] == 2
        node(alice, 1)["config"]["message"] = "later"
        await eventually_async(
            lambda: _shared_is(cluster, name, alice.definition()), what="a later edit"
        )
        third = await a.http.post(f"/collab/workflows/{name}/publish", headers=auth("alice"))
        assert third.json()["contributors"] == {
            "alice": [{"target": "node bye", "action": "changed", "fields": ["config.message"]}]
        }
    finally:
        await alice.__aexit__()
        await bob.__aexit__()


async def _shared_is(cluster: Cluster, name: str, expected: dict[str, Any]) -> bool:
    return all([await r.shared(name) == expected for r in cluster.replicas])


async def test_a_draft_replaced_through_the_api_is_followed(cluster: Cluster) -> None:
    a, _ = cluster.replicas
    name = await cluster.workflow(log_node("greet"))
    alice = await joined(YClient(a.ws(name, "alice")))
    await alice.__aexit__()
    await eventually_async(lambda: _room_closed(cluster, name), what="the room to close")
    replaced = definition(name, log_node("other", "replaced"))
    await cluster.store.update_draft(name, replaced)
    bob = await joined(YClient(a.ws(name, "bob")))
    try:
        assert bob.definition() == replaced
    finally:
        await bob.__aexit__()


async def _room_closed(cluster: Cluster, name: str) -> bool:
    for replica in cluster.replicas:
        response = await replica.http.get(f"/collab/workflows/{name}", headers=auth("carol"))
        if response.json()["clients"]:
            return False
    return True


def test_attribution_folds_each_authors_changes() -> None:
    before = definition("w", log_node("a"))
    added = definition("w", log_node("a"), log_node("b"))
    edited = definition("w", log_node("a", "changed"), log_node("b", "x"))
    removed = definition("w", log_node("a", "changed"))
    folded = attribute(
        [
            ("ann", diff(before, added)),
            ("ann", diff(added, edited)),
            ("ben", diff(edited, removed)),
            ("ann", diff(removed, before)),
        ]
    )
    assert folded == {
        "ann": [
            {"target": "node b", "action": "added"},
            {"target": "node a", "action": "changed", "fields": ["config.message"]},
        ],
        "ben": [{"target": "node b", "action": "removed"}],
    }


async def test_a_publish_applies_the_operators_policy(cluster: Cluster) -> None:
    """An ocr node naming its own endpointUrl without its own credentials would be refused
    by every worker (the operator allows no such host): the shared draft is not published."""
    a, _ = cluster.replicas
    config = {"document": "{{ input.d }}", "endpointUrl": "https://c.example"}
    scan = {"id": "scan", "type": "ocr", "ui": {"x": 0, "y": 0}, "config": config}
    name = await cluster.workflow(scan)
    refused = await a.http.post(f"/collab/workflows/{name}/publish", headers=auth("alice"))
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["error"]["details"]["problems"]
    assert problem["code"] == "OCR_ENDPOINT_NOT_ALLOWED"
    assert problem["path"] == "spec.nodes[0].config.endpointUrl"
    assert (await cluster.store.list_versions(name, tenant_id="default")) == []
