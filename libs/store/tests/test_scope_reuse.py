"""One pooled connection serving tenants and the platform in turn never mixes their rows.

Single statements scope the *session* (one round trip, set only when the connection was
last set to another scope); transactions scope themselves with `SET LOCAL` of both
settings. These tests pin both on a pool of one connection, so every call reuses the
connection the previous scope left behind, and count the statements a warm read costs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tideflow.store import (
    APP_ROLE,
    AuditEntry,
    CommitBatch,
    NewEvent,
    NotFound,
    OutboxMessage,
    PostgresEventStore,
    ProcessedCommand,
    RunAppend,
    RunRecord,
    Snapshot,
    StepRecord,
    Timer,
    TimerKey,
)
from tideflow.store._pg_scope import one_statement, scoped

pytestmark = pytest.mark.integration

TENANTS = ("acme", "beta")


@pytest.fixture
async def one_connection(dsn: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.connect(dsn, min_size=1, max_size=1, role=APP_ROLE)
    for tenant in TENANTS:
        await store.create_tenant(tenant)
        await store.append(f"run-{tenant}", 0, [NewEvent("RunStarted", {})], tenant_id=tenant)
        await store.create_workflow("billing", "billing", {"t": tenant}, tenant_id=tenant)
    yield store
    await store.close()


async def _runs_seen(store: PostgresEventStore, tenant: str | None) -> set[str]:
    """The runs whose events a single-statement read in `tenant`'s scope returns."""
    return {run for run in ("run-acme", "run-beta") if await store.read(run, tenant_id=tenant)}


async def test_scopes_alternating_on_one_connection_stay_apart(
    one_connection: PostgresEventStore,
) -> None:
    store = one_connection
    order = [*TENANTS, None, "beta", "beta", None, "acme", None, None, "acme"]
    for tenant in order:
        # a transaction on the connection a single statement left scoped elsewhere
        run = f"run-{tenant or 'acme'}"
        await store.append(
            run,
            len(await store.read(run)),
            [NewEvent("Note", {"by": tenant or "platform"})],
            tenant_id=tenant or "acme",
        )
        seen = await _runs_seen(store, tenant)
        if tenant is None:
            assert seen == {"run-acme", "run-beta"}
        else:
            assert seen == {f"run-{tenant}"}
        other = "beta" if tenant == "acme" else "acme"
        if tenant is not None:
            with pytest.raises(NotFound):
                await store.get_run(f"run-{other}", tenant_id=tenant)
            workflow = await store.get_workflow("billing", tenant_id=tenant)
            assert workflow.draft == {"t": tenant}


async def test_a_session_left_in_platform_scope_cannot_widen_a_tenant_transaction(
    one_connection: PostgresEventStore,
) -> None:
    """`scoped` sets both settings locally, so the session's scope never leaks into it."""
    store = one_connection
    pool = store._pool
    for tenant in itertools.islice(itertools.cycle([None, "acme", None, "beta"]), 8):
        async with one_statement(pool, tenant) as connection:
            await connection.fetchval("SELECT 1")  # leaves the session in that scope
        for inside in TENANTS:
            async with scoped(pool, inside) as connection:
                rows = await connection.fetch("SELECT DISTINCT tenant_id FROM run_events")
            assert [r["tenant_id"] for r in rows] == [inside]
        async with scoped(pool, None) as connection:
            rows = await connection.fetch("SELECT DISTINCT tenant_id FROM run_events")
        assert sorted(r["tenant_id"] for r in rows) == sorted(TENANTS)


async def test_a_warm_single_statement_is_one_round_trip(
    one_connection: PostgresEventStore,
) -> None:
    store = one_connection
    pool = store._pool
    statements: list[str] = []
    async with pool.acquire() as connection:
        connection.add_query_logger(lambda record: statements.append(record.query))
    for tenant in ("acme", "acme", "acme", None, None, "beta"):
        with pytest.raises(NotFound):
            await store.get_run("nope", tenant_id=tenant)
    await asyncio.sleep(0.05)  # query loggers are called soon after, not during, the query
    scopes = [q for q in statements if q.startswith("SET ")]
    # a scope is set when it changes (acme, platform, beta), never around each statement
    assert len(scopes) == 3, statements
    assert len(statements) == 6 + 3, statements
    assert not any(q.startswith(("BEGIN", "COMMIT")) for q in statements)


async def test_a_commit_batch_is_three_round_trips(one_connection: PostgresEventStore) -> None:
    """Begin (scope and event-log lock), one statement writing every kind of row, commit."""
    store = one_connection
    now = datetime.now(UTC)

    def batch(run_id: str) -> CommitBatch:
        return CommitBatch(
            appends=[RunAppend(run_id, 0, [NewEvent("RunStarted", {}), NewEvent("X", {})])],
            runs=[RunRecord(run_id, "wf", 1, "running", started_at=now)],
            steps=[StepRecord(run_id, "s", "scheduled")],
            snapshots=[Snapshot(run_id, 2, {})],
            outbox=[OutboxMessage("topic", b"task", headers=(("h", b"v"),))],
            timers=[Timer("t", run_id, now, "step_timeout")],
            cancel_timers=[TimerKey(run_id, "old")],
            processed=[ProcessedCommand(f"c-{run_id}", run_id)],
            audit=[AuditEntry(tenant_id="acme", actor="a", action="run.start", resource="r")],
        )

    await store.commit_batch(batch("warm"))  # the driver learns the statement's types once
    statements: list[str] = []
    async with store._pool.acquire() as connection:
        connection.add_query_logger(lambda record: statements.append(record.query))
    await store.commit_batch(batch("r"))
    await asyncio.sleep(0.05)  # query loggers are called soon after, not during, the query
    assert len(statements) == 3, "\n".join(q[:100] for q in statements)
    begin, write, commit = statements
    assert begin.startswith("BEGIN")
    assert "pg_advisory_xact_lock" in begin
    assert "plan_cache_mode = force_generic_plan" in begin  # planned once, not per commit
    assert write.startswith("WITH")
    assert commit == "COMMIT"


async def test_loading_runs_is_one_statement(one_connection: PostgresEventStore) -> None:
    """A scheduler loads a batch's runs (snapshots and the events after them) in one."""
    store = one_connection
    await store.load_runs(["run-acme"])  # scopes the session for the platform, once
    statements: list[str] = []
    async with store._pool.acquire() as connection:
        connection.add_query_logger(lambda record: statements.append(record.query))
    loaded = await store.load_runs(["run-acme", "run-beta", "nope"])
    await asyncio.sleep(0.05)  # query loggers are called soon after, not during, the query
    assert len(statements) == 1, statements
    assert [len(loaded[r][1]) for r in ("run-acme", "run-beta", "nope")] == [1, 1, 0]


async def test_the_commit_statement_is_planned_once(one_connection: PostgresEventStore) -> None:
    """Small batches would otherwise be planned again at every commit (each one's own plan
    looks cheaper than the generic one): the server's count of custom plans says which."""
    store = one_connection
    for n in range(8):
        await store.commit_batch(
            CommitBatch(
                appends=[RunAppend(f"p{n}", 0, [NewEvent("RunStarted", {})])],
                runs=[RunRecord(f"p{n}", "wf", 1, "running")],
            )
        )
    async with store._pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'WITH runs_rows%'"
        )
    assert [(r["generic_plans"], r["custom_plans"]) for r in rows] == [(8, 0)]
