"""Contract suite of tenant scoping: what one tenant's reads can see of another's runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tideflow.store import (
    CommitBatch,
    EventStore,
    LogLine,
    NewEvent,
    NotFound,
    RunAppend,
    RunFilter,
    RunRecord,
    StepRecord,
)

pytestmark = pytest.mark.contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(store: EventStore) -> None:
    for tenant in ("acme", "beta"):
        await store.commit_batch(
            CommitBatch(
                appends=(RunAppend(f"run-{tenant}", 0, [NewEvent("RunStarted", {})], tenant),),
                runs=[RunRecord(f"run-{tenant}", "billing", 1, "running", tenant, started_at=T0)],
                steps=[StepRecord(f"run-{tenant}", "a", "succeeded", tenant_id=tenant)],
            )
        )
        await store.append_logs([LogLine(f"run-{tenant}", "a", "info", "hi", tenant_id=tenant)])


async def test_a_tenant_reads_its_own_run_and_nothing_of_another(store: EventStore) -> None:
    await seed(store)
    assert (await store.get_run("run-acme", tenant_id="acme")).tenant_id == "acme"
    with pytest.raises(NotFound):
        await store.get_run("run-beta", tenant_id="acme")
    assert await store.read("run-beta", tenant_id="acme") == []
    assert [e.type for e in await store.read("run-acme", tenant_id="acme")] == ["RunStarted"]
    assert await store.get_steps("run-beta", tenant_id="acme") == []
    assert len(await store.get_steps("run-acme", tenant_id="acme")) == 1
    assert await store.read_logs("run-beta", tenant_id="acme") == []
    assert [line.message for line in await store.read_logs("run-acme", tenant_id="acme")] == ["hi"]
    page = await store.list_runs(RunFilter(tenant_id="acme"))
    assert [r.run_id for r in page.runs] == ["run-acme"]


async def test_the_platform_scope_sees_every_tenant(store: EventStore) -> None:
    await seed(store)
    loaded = await store.load_runs(["run-acme", "run-beta"])
    assert {run_id: len(events) for run_id, (_, events) in loaded.items()} == {
        "run-acme": 1,
        "run-beta": 1,
    }
    assert (await store.get_run("run-beta")).tenant_id == "beta"


async def test_workflow_names_are_per_tenant(store: EventStore) -> None:
    await store.create_workflow("billing", "billing", {"owner": "acme"}, tenant_id="acme")
    await store.create_workflow("billing", "billing", {"owner": "beta"}, tenant_id="beta")
    await store.publish("billing", tenant_id="acme")
    acme = await store.get_workflow("billing", tenant_id="acme")
    beta = await store.get_workflow("billing", tenant_id="beta")
    assert (acme.draft, beta.draft) == ({"owner": "acme"}, {"owner": "beta"})
    assert [v.version for v in await store.list_versions("billing", tenant_id="beta")] == []
    with pytest.raises(NotFound):
        await store.get_version("billing", tenant_id="beta")
    assert [w.workflow_id for w in await store.list_workflows(tenant_id="gamma")] == []
