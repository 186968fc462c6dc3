"""What only the Postgres store has: migrations, append-only triggers, the app role."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tideflow.store import (
    APP_ROLE,
    CommitBatch,
    MigrationError,
    NewEvent,
    PostgresEventStore,
    RunRecord,
    StoreUnavailable,
    migrate,
)
from tideflow.store._migrate import migrations
from tideflow.store._pg_errors import IMMUTABLE_SQLSTATE
from tideflow.store._pg_sql import LOG_LOCK_KEY

pytestmark = pytest.mark.integration

TABLES = [
    "workflows",
    "workflow_versions",
    "runs",
    "run_steps",
    "run_events",
    "run_snapshots",
    "outbox",
    "timers",
    "processed_commands",
    "run_logs",
    "approvals",
    "approval_decisions",
    "triggers",
]


async def test_migrations_are_idempotent_and_safe_to_run_concurrently(empty_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(empty_dsn) for _ in range(3)))
    names = [m.name for m in migrations()]
    assert sorted(results, key=len) == [[], [], names]
    assert await migrate(empty_dsn) == []
    connection = await asyncpg.connect(empty_dsn)
    try:
        recorded = await connection.fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in recorded] == names
    finally:
        await connection.close()


async def test_migrate_accepts_a_pool(empty_dsn: str) -> None:
    pool = await asyncpg.create_pool(empty_dsn, min_size=1, max_size=2)
    try:
        assert await migrate(pool) == [m.name for m in migrations()]
    finally:
        await pool.close()


async def test_an_edited_migration_is_refused(owner: asyncpg.Connection, dsn: str) -> None:
    await owner.execute("UPDATE schema_migrations SET checksum = 'edited'")
    with pytest.raises(MigrationError):
        await migrate(dsn)


async def test_unreachable_database_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await migrate("postgresql://nobody@127.0.0.1:1/nothing")


TENANT_TABLES = [
    *TABLES, "api_tokens", "users", "refresh_tokens", "secrets", "audit_log",
    "webhook_subscriptions", "webhook_deliveries", "webhook_attempts",
    "collab_documents", "collab_updates", "command_keys", "trigger_deferred_starts",
]  # fmt: skip


async def test_every_table_has_a_tenant(owner: asyncpg.Connection) -> None:
    rows = await owner.fetch(
        "SELECT table_name, column_default FROM information_schema.columns "
        "WHERE column_name = 'tenant_id' AND table_schema = 'public'"
    )
    assert {r["table_name"] for r in rows} == set(TENANT_TABLES)
    # rows written before tenancy existed belong to `default`
    assert {r["column_default"] for r in rows if r["table_name"] in TABLES} == {"'default'::text"}


async def events_in(pg_store: PostgresEventStore) -> None:
    await pg_store.append("r", 0, [NewEvent("RunStarted", {}), NewEvent("StepScheduled", {})])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE run_events SET type = 'Forged'",
        "DELETE FROM run_events",
        "TRUNCATE run_events",
    ],
)
async def test_the_event_log_refuses_changes_even_from_its_owner(
    pg_store: PostgresEventStore, owner: asyncpg.Connection, statement: str
) -> None:
    await events_in(pg_store)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await owner.execute(statement)
    assert caught.value.sqlstate == IMMUTABLE_SQLSTATE
    assert await owner.fetchval("SELECT count(*) FROM run_events") == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE workflow_versions SET definition = '{}'",
        "DELETE FROM workflow_versions",
        "TRUNCATE workflow_versions CASCADE",
    ],
)
async def test_published_versions_refuse_changes(
    pg_store: PostgresEventStore, owner: asyncpg.Connection, statement: str
) -> None:
    await pg_store.create_workflow("wf", "Flow", {"v": 1})
    await pg_store.publish("wf")
    with pytest.raises(asyncpg.PostgresError) as caught:
        await owner.execute(statement)
    assert caught.value.sqlstate == IMMUTABLE_SQLSTATE
    assert await owner.fetchval("SELECT definition->>'v' FROM workflow_versions") == "1"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE run_events SET type = 'Forged'",
        "DELETE FROM run_events",
        "UPDATE workflow_versions SET published_by = 'mallory'",
        "DELETE FROM workflow_versions",
    ],
)
async def test_the_app_role_has_no_update_or_delete_grant(
    pg_store: PostgresEventStore, owner: asyncpg.Connection, statement: str
) -> None:
    await events_in(pg_store)
    await pg_store.create_workflow("wf", "Flow", {})
    await pg_store.publish("wf")
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE {APP_ROLE}")
        # The maintenance switch does not help a role that lacks the privilege.
        await owner.execute("SET LOCAL tideflow.maintenance = 'on'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await owner.execute(statement)


async def test_the_app_role_can_append_and_read(owner: asyncpg.Connection) -> None:
    async with owner.transaction():
        await owner.execute(f"SET LOCAL ROLE {APP_ROLE}")
        await owner.execute("SET LOCAL tideflow.tenant = 'default'")
        await owner.execute(
            "INSERT INTO run_events (run_id, seq, type, data) VALUES ('r', 1, 'E', '{}')"
        )
        assert await owner.fetchval("SELECT count(*) FROM run_events") == 1


async def test_the_owner_maintenance_path_may_delete(
    pg_store: PostgresEventStore, owner: asyncpg.Connection
) -> None:
    await events_in(pg_store)
    async with owner.transaction():
        await owner.execute("SET LOCAL tideflow.maintenance = 'on'")
        assert await owner.execute("DELETE FROM run_events WHERE run_id = 'r'") == "DELETE 2"
    # The switch was transaction-local: the log is append-only again.
    await events_in(pg_store)
    with pytest.raises(asyncpg.PostgresError):
        await owner.execute("DELETE FROM run_events")


async def wait_until_someone_waits_for_an_advisory_lock(owner: asyncpg.Connection) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    while not await owner.fetchval(query):
        assert asyncio.get_running_loop().time() < deadline, "the appender never waited"
        await asyncio.sleep(0)


async def test_appends_wait_for_the_log_lock_so_positions_follow_commit_order(
    pg_store: PostgresEventStore, owner: asyncpg.Connection
) -> None:
    """While one transaction holds the event-log lock, another appender cannot take a
    position: the holder's event, written later, still commits first with the lower one."""
    async with owner.transaction():
        await owner.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK_KEY)
        blocked = asyncio.create_task(pg_store.append("fast", 0, [NewEvent("E", {})]))
        await owner.execute(
            "INSERT INTO run_events (run_id, seq, type, data) VALUES ('held', 1, 'E', '{}')"
        )
        await wait_until_someone_waits_for_an_advisory_lock(owner)
        assert not blocked.done()
    [fast] = await asyncio.wait_for(blocked, timeout=10)
    held = await owner.fetchval("SELECT position FROM run_events WHERE run_id = 'held'")
    assert fast.position > held


async def test_jsonb_round_trips_through_orjson(pg_store: PostgresEventStore) -> None:
    value = {"unicode": "ß→✓", "big": 2**53, "float": 1.5, "nested": [{"a": None}], "t": True}
    [stored] = await pg_store.append("r", 0, [NewEvent("E", value)])
    assert stored.data == value
    assert (await pg_store.read("r"))[0].data == value


async def test_timestamps_are_timezone_aware(pg_store: PostgresEventStore) -> None:
    await pg_store.commit_batch(CommitBatch(runs=[RunRecord("r", "wf", 1, "running")]))
    run = await pg_store.get_run("r")
    assert run.started_at is not None
    assert run.started_at.tzinfo is not None
    assert abs(run.started_at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_the_events_publisher_starts_after_the_events_published_before_it(
    empty_dsn: str,
) -> None:
    """Before 0002 every event went out through the outbox: upgrading re-publishes none."""
    first, second = migrations()[:2]
    connection = await asyncpg.connect(empty_dsn)
    try:
        await connection.execute(first.sql)
        await connection.execute(
            "INSERT INTO run_events (run_id, seq, type, data) VALUES ('r', 1, 'A', '{}'),"
            " ('r', 2, 'B', '{}')"
        )
        await connection.execute(second.sql)
        position = await connection.fetchval(
            "SELECT position FROM event_publisher_positions WHERE name = 'tideflow.events'"
        )
        assert position == await connection.fetchval("SELECT max(position) FROM run_events")
        assert position > 0
    finally:
        await connection.close()
