"""Contract suite of the `WorkflowStore` port: drafts, immutable versions, rollback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tideflow.store import (
    AlreadyExists,
    ConcurrencyConflict,
    EventStore,
    Immutable,
    NotFound,
)

pytestmark = pytest.mark.contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_definitions_keep_the_order_of_their_keys(store: EventStore) -> None:
    written = {"spec": {"nodes": [{"type": "log", "id": "z"}], "edges": []}, "kind": "Workflow",
               "apiVersion": "tideflow.io/v1", "metadata": {"name": "order"}}  # fmt: skip
    await store.create_workflow("order", "order", written)
    draft = (await store.get_workflow("order")).draft
    assert list(draft) == ["spec", "kind", "apiVersion", "metadata"]
    assert list(draft["spec"]["nodes"][0]) == ["type", "id"]
    await store.publish("order")
    assert list((await store.get_version("order")).definition) == list(written)


async def test_an_unchanged_draft_save_is_a_no_op(store: EventStore) -> None:
    # re-applying the same file bumped the revision every time (not idempotent)
    await store.create_workflow("same", "Same", {"a": 1, "b": [1, 2]})
    first = await store.update_draft("same", {"a": 1, "b": [1, 2, 3]})
    again = await store.update_draft("same", {"a": 1, "b": [1, 2, 3]})
    assert (again.revision, again.updated_at, again.draft) == (
        first.revision, first.updated_at, {"a": 1, "b": [1, 2, 3]}
    )  # fmt: skip
    assert (await store.update_draft("same", again.draft, name="Same")).revision == first.revision
    assert (await store.update_draft("same", again.draft, expected_revision=2)).revision == 2
    with pytest.raises(ConcurrencyConflict):
        await store.update_draft("same", again.draft, expected_revision=1)
    renamed = await store.update_draft("same", again.draft, name="Other")
    assert (renamed.revision, renamed.name) == (3, "Other")
    reordered = await store.update_draft("same", {"b": [1, 2, 3], "a": 1})
    assert reordered.revision == 4  # kept as written: the key order is part of the text
    await store.set_archived("same", archived=True)
    with pytest.raises(Immutable):
        await store.update_draft("same", reordered.draft)


async def test_workflow_draft_lifecycle(store: EventStore) -> None:
    created = await store.create_workflow("wf", "My flow", {"nodes": []})
    assert (created.revision, created.archived, created.draft) == (1, False, {"nodes": []})
    with pytest.raises(AlreadyExists):
        await store.create_workflow("wf", "again", {})
    updated = await store.update_draft("wf", {"nodes": [1]}, expected_revision=1, name="Renamed")
    assert (updated.revision, updated.name, updated.draft) == (2, "Renamed", {"nodes": [1]})
    with pytest.raises(ConcurrencyConflict):
        await store.update_draft("wf", {"nodes": [2]}, expected_revision=1)
    assert (await store.update_draft("wf", {"nodes": [3]})).revision == 3
    assert (await store.get_workflow("wf")).draft == {"nodes": [3]}
    with pytest.raises(NotFound):
        await store.get_workflow("wf", tenant_id="acme")
    with pytest.raises(NotFound):
        await store.update_draft("missing", {})


async def test_archived_workflows_are_hidden_and_frozen(store: EventStore) -> None:
    await store.create_workflow("a", "A", {})
    await store.create_workflow("b", "B", {})
    await store.publish("b")
    await store.set_archived("b", True)
    assert [w.workflow_id for w in await store.list_workflows()] == ["a"]
    assert [w.workflow_id for w in await store.list_workflows(include_archived=True)] == ["a", "b"]
    with pytest.raises(Immutable):
        await store.update_draft("b", {"x": 1})
    with pytest.raises(Immutable):
        await store.publish("b")
    with pytest.raises(Immutable):
        await store.rollback("b", 1)
    await store.set_archived("b", False)
    assert (await store.publish("b")).version == 2
    with pytest.raises(NotFound):
        await store.set_archived("missing", True)


async def test_publish_versions_and_rollback(store: EventStore) -> None:
    await store.create_workflow("wf", "Flow", {"v": 1})
    with pytest.raises(NotFound):
        await store.get_version("wf")
    v1 = await store.publish("wf", published_by="alice")
    await store.update_draft("wf", {"v": 2})
    v2 = await store.publish("wf")
    v3 = await store.publish("wf", definition={"v": "explicit"})
    assert [(v.version, v.definition) for v in (v1, v2, v3)] == [
        (1, {"v": 1}),
        (2, {"v": 2}),
        (3, {"v": "explicit"}),
    ]
    assert v1.published_by == "alice"
    revision = (await store.get_workflow("wf")).revision
    back = await store.rollback("wf", 1, published_by="bob")
    assert (back.version, back.definition, back.source_version) == (4, {"v": 1}, 1)
    after = await store.get_workflow("wf")  # the draft follows, so a publish keeps version 1
    assert (after.draft, after.revision) == ({"v": 1}, revision + 1)
    assert (await store.get_version("wf")).version == 4
    assert (await store.get_version("wf", 2)).definition == {"v": 2}
    assert [v.version for v in await store.list_versions("wf")] == [1, 2, 3, 4]
    with pytest.raises(NotFound):
        await store.get_version("wf", 9)
    with pytest.raises(NotFound):
        await store.rollback("wf", 9)
    with pytest.raises(NotFound):
        await store.publish("missing")
    # Publishing is a copy: later draft edits do not touch published versions.
    await store.update_draft("wf", {"v": "draft"})
    assert (await store.get_version("wf", 2)).definition == {"v": 2}


async def test_concurrent_publishes_get_consecutive_versions(store: EventStore) -> None:
    await store.create_workflow("wf", "Flow", {})
    published = await asyncio.gather(*(store.publish("wf", definition={"i": i}) for i in range(8)))
    assert sorted(v.version for v in published) == list(range(1, 9))
