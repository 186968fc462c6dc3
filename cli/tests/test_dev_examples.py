"""`tide dev` applies `examples/` at every start without undoing what the user did with them.

Archiving an example made every later start fail (updating an archived draft raised), and
a restart replaced a draft edited in the builder, or a version a person published, with
the file again (publishing it as a new version on top of theirs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tideflow.cli.dev import apply_examples
from tideflow.store import InMemoryEventStore

pytestmark = pytest.mark.unit


def hello(greeting: str) -> dict[str, Any]:
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "hello"},
            "spec": {"nodes": [{"id": "greet", "type": "transform",
                                "config": {"value": greeting}}]}}  # fmt: skip


def folder(tmp_path: Path, greeting: str) -> Path:
    import json

    (tmp_path / "hello.yaml").write_text(json.dumps(hello(greeting)))  # JSON is YAML
    return tmp_path


async def versions(store: InMemoryEventStore) -> list[tuple[str, str | None]]:
    found = await store.list_versions("hello")
    return [(v.definition["spec"]["nodes"][0]["config"]["value"], v.published_by)
            for v in sorted(found, key=lambda v: v.version)]  # fmt: skip


async def test_new_unchanged_and_changed_examples(tmp_path: Path) -> None:
    store = InMemoryEventStore()
    assert (await apply_examples(store, folder(tmp_path, "Hi")))[0] == ["hello"]
    await apply_examples(store, folder(tmp_path, "Hi"))  # a restart: nothing new
    assert await versions(store) == [("Hi", None)]
    assert (await store.get_workflow("hello")).revision == 1
    await apply_examples(store, folder(tmp_path, "Hello"))  # the file changed
    assert await versions(store) == [("Hi", None), ("Hello", None)]
    assert (await store.get_workflow("hello")).draft == hello("Hello")


async def test_an_archived_example_stays_archived_and_dev_starts(tmp_path: Path) -> None:
    store = InMemoryEventStore()
    await apply_examples(store, folder(tmp_path, "Hi"))
    await store.set_archived("hello", True)
    applied, _ = await apply_examples(store, folder(tmp_path, "Hello"))
    assert applied == []
    assert (await store.get_workflow("hello")).archived
    assert await versions(store) == [("Hi", None)]


async def test_a_draft_edited_by_the_user_is_kept(tmp_path: Path) -> None:
    store = InMemoryEventStore()
    await apply_examples(store, folder(tmp_path, "Hi"))
    await store.update_draft("hello", hello("Howdy"))
    applied, _ = await apply_examples(store, folder(tmp_path, "Hi"))
    assert applied == ["hello"]
    assert (await store.get_workflow("hello")).draft == hello("Howdy")
    assert await versions(store) == [("Hi", None)]


async def test_a_version_a_person_published_is_kept(tmp_path: Path) -> None:
    store = InMemoryEventStore()
    await apply_examples(store, folder(tmp_path, "Hi"))
    await store.update_draft("hello", hello("Howdy"))
    await store.publish("hello", published_by="admin")
    await apply_examples(store, folder(tmp_path, "Hi"))
    await apply_examples(store, folder(tmp_path, "Hello"))  # even when the file changes
    assert await versions(store) == [("Hi", None), ("Howdy", "admin")]
    assert (await store.get_workflow("hello")).draft == hello("Howdy")
