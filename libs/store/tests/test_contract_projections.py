"""Contract suite of run projections, workflows and versions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    TRUNCATED,
    AlreadyExists,
    CommitBatch,
    ConcurrencyConflict,
    EventStore,
    Immutable,
    NewEvent,
    NotFound,
    RunAppend,
    RunFilter,
    RunRecord,
    StepRecord,
)

pytestmark = pytest.mark.contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_runs(store: EventStore) -> None:
    runs = [
        RunRecord(
            f"r{i:02}",
            "wf-a" if i % 2 else "wf-b",
            1,
            "succeeded" if i % 3 else "running",
            started_at=T0 + timedelta(minutes=i),
        )
        for i in range(10)
    ]
    runs.append(RunRecord("other-tenant", "wf-a", 1, "running", tenant_id="acme", started_at=T0))
    runs.append(
        RunRecord(
            "child", "wf-a", 1, "running", parent_run_id="r01", started_at=T0 - timedelta(days=1)
        )
    )
    await store.commit_batch(CommitBatch(runs=runs))


async def test_run_upsert_keeps_start_and_tracks_last_seq(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("r", 0, [NewEvent("RunStarted", {})])],
            runs=[RunRecord("r", "wf", 3, "running", input={"a": 1}, started_at=T0)],
        )
    )
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("r", 1, [NewEvent("RunSucceeded", {}), NewEvent("X", {})])],
            runs=[
                RunRecord(
                    "r",
                    "wf",
                    3,
                    "succeeded",
                    input={"a": 1},
                    output=[1, 2],
                    ended_at=T0 + timedelta(hours=1),
                )
            ],
        )
    )
    run = await store.get_run("r")
    assert run.started_at == T0
    assert run.ended_at == T0 + timedelta(hours=1)
    assert (run.status, run.version, run.output, run.last_seq) == ("succeeded", 3, [1, 2], 3)
    assert run.updated_at is not None


async def test_large_values_come_back_as_markers_when_asked(store: EventStore) -> None:
    big = "x" * 1000
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("big", 0, [NewEvent("RunStarted", {})])],
            runs=[RunRecord("big", "wf", 1, "running", input=big, output=[1, 2])],
            steps=[StepRecord("big", "fetch", "succeeded", 1, output=big, error=None)],
        )
    )
    marker = {TRUNCATED: {"bytes": 1002, "preview": '"' + "x" * 511}}
    run = await store.get_run("big", preview_over=1001)
    assert (run.input, run.output, run.error) == (marker, [1, 2], None)
    assert (await store.get_run("big", preview_over=1002)).input == big
    assert (await store.get_run("big")).input == big
    [step] = await store.get_steps("big", preview_over=100)
    assert (step.output, step.error) == (marker, None)
    [step] = await store.get_steps("big")
    assert step.output == big


async def test_get_run_of_an_unknown_run_is_not_found(store: EventStore) -> None:
    with pytest.raises(NotFound):
        await store.get_run("nope")


async def test_list_runs_filters(store: EventStore) -> None:
    await seed_runs(store)

    async def ids(run_filter: RunFilter) -> list[str]:
        return [r.run_id for r in (await store.list_runs(run_filter, limit=100)).runs]

    assert await ids(RunFilter(workflow_id="wf-b")) == ["r08", "r06", "r04", "r02", "r00"]
    assert await ids(RunFilter(statuses=("running",))) == ["r09", "r06", "r03", "r00", "child"]
    assert await ids(RunFilter(started_after=T0 + timedelta(minutes=7))) == ["r09", "r08", "r07"]
    assert await ids(RunFilter(started_before=T0 + timedelta(minutes=1))) == ["r00", "child"]
    assert await ids(RunFilter(tenant_id="acme")) == ["other-tenant"]
    assert await ids(RunFilter(parent_run_id="r01")) == ["child"]
    assert len(await ids(RunFilter(tenant_id=None))) == 12


async def test_list_runs_keyset_pagination_visits_every_run_once(store: EventStore) -> None:
    await seed_runs(store)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_runs(RunFilter(), limit=3, after=cursor)
        seen += [r.run_id for r in page.runs]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"r{i:02}" for i in reversed(range(10))] + ["child"]
    assert pages == 4


async def test_steps_are_upserted_per_node(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(
            steps=[
                StepRecord("r", "b", "running", started_at=T0 + timedelta(seconds=2)),
                StepRecord("r", "a", "running", started_at=T0),
                StepRecord("r", "c", "pending"),
                StepRecord("other", "a", "running"),
            ]
        )
    )
    await store.commit_batch(
        CommitBatch(
            steps=[
                StepRecord("r", "a", "failed", attempt=2, started_at=T0, error={"type": "Boom"}),
            ]
        )
    )
    steps = await store.get_steps("r")
    assert [s.node_id for s in steps] == ["a", "b", "c"]
    assert (steps[0].status, steps[0].attempt, steps[0].error) == ("failed", 2, {"type": "Boom"})


async def test_steps_keep_their_child_run(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(steps=[StepRecord("p", "call", "waiting", child_run_id="p:call:1")])
    )
    await store.commit_batch(CommitBatch(steps=[StepRecord("p", "call", "succeeded")]))
    await store.commit_batch(
        CommitBatch(steps=[StepRecord("q", "call", "waiting", child_run_id="q:call:1")])
    )
    assert [s.child_run_id for s in await store.get_steps("q")] == ["q:call:1"]
    assert [s.child_run_id for s in await store.get_steps("p")] == [None]


async def test_definitions_keep_the_order_of_their_keys(store: EventStore) -> None:
    written = {"spec": {"nodes": [{"type": "log", "id": "z"}], "edges": []}, "kind": "Workflow",
               "apiVersion": "tideflow.io/v1", "metadata": {"name": "order"}}  # fmt: skip
    await store.create_workflow("order", "order", written)
    draft = (await store.get_workflow("order")).draft
    assert list(draft) == ["spec", "kind", "apiVersion", "metadata"]
    assert list(draft["spec"]["nodes"][0]) == ["type", "id"]
    await store.publish("order")
    assert list((await store.get_version("order")).definition) == list(written)


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
