"""Row-level security: every tenant table has a policy the application role cannot escape.

These tests talk SQL as the application role directly, the way a bug or an injection in a
service would, to show that the database itself keeps tenants apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tideflow.store import APP_ROLE, NewEvent, PostgresEventStore

from .test_postgres_schema import TENANT_TABLES

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw session as the application role, outside the store's scoping."""
    connection = await asyncpg.connect(dsn, server_settings={"role": APP_ROLE})
    yield connection
    await connection.close()


async def test_every_tenant_table_enforces_a_policy(owner: asyncpg.Connection) -> None:
    """Any table with a `tenant_id` column, including ones later migrations add."""
    rows = await owner.fetch(
        "SELECT c.relname, c.relrowsecurity, "
        "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND (c.relname = ANY($1::text[]) "
        "OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
        "AND a.attname = 'tenant_id' AND NOT a.attisdropped))",
        ["tenants", "signing_keys"],
    )
    assert {r["relname"] for r in rows} >= {*TENANT_TABLES, "tenants", "signing_keys"}
    unprotected = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["policies"])]
    assert unprotected == []


async def test_the_app_role_owns_nothing_and_cannot_bypass(owner: asyncpg.Connection) -> None:
    role = await owner.fetchrow(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", APP_ROLE
    )
    assert role is not None
    assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    owned = await owner.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = $1",
        APP_ROLE,
    )
    assert owned == 0


async def _two_tenants(pg_store: PostgresEventStore) -> None:
    for tenant in ("acme", "beta"):
        await pg_store.create_tenant(tenant)
        await pg_store.append(f"run-{tenant}", 0, [NewEvent("RunStarted", {})], tenant_id=tenant)
        await pg_store.create_workflow("billing", "billing", {"t": tenant}, tenant_id=tenant)


async def test_without_a_scope_the_app_role_sees_nothing(
    pg_store: PostgresEventStore, app: asyncpg.Connection
) -> None:
    await _two_tenants(pg_store)
    for table in ("run_events", "workflows", "api_tokens", "secrets", "audit_log"):
        assert await app.fetchval(f"SELECT count(*) FROM {table}") == 0  # noqa: S608


async def test_a_tenant_scope_sees_and_writes_only_its_own_rows(
    pg_store: PostgresEventStore, app: asyncpg.Connection
) -> None:
    await _two_tenants(pg_store)
    async with app.transaction():
        await app.execute("SET LOCAL tideflow.tenant = 'acme'")
        assert await app.fetch("SELECT DISTINCT tenant_id FROM run_events") == [("acme",)]
        assert await app.fetchval("SELECT count(*) FROM workflows") == 1
        # not even a blind UPDATE or DELETE reaches the other tenant
        assert await app.execute("UPDATE workflows SET name = 'x'") == "UPDATE 1"
        assert await app.execute("DELETE FROM runs WHERE tenant_id = 'beta'") == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(
                "INSERT INTO workflows (tenant_id, workflow_id, name, draft) "
                "VALUES ('beta', 'planted', 'p', '{}')"
            )
    beta = await pg_store.get_workflow("billing", tenant_id="beta")
    assert beta.name == "billing"


async def test_the_app_role_cannot_switch_rls_off(app: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.PostgresError):
        await app.execute("ALTER TABLE runs DISABLE ROW LEVEL SECURITY")
    with pytest.raises(asyncpg.PostgresError):
        await app.execute("SET row_security = off; SELECT count(*) FROM runs")


async def test_the_audit_log_is_append_only_for_the_app(
    pg_store: PostgresEventStore, app: asyncpg.Connection
) -> None:
    from tideflow.store import AuditEntry

    await pg_store.record_audit([AuditEntry("default", "admin", "secret.put", "secret/A")])
    async with app.transaction():
        await app.execute("SET LOCAL tideflow.tenant = 'default'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("DELETE FROM audit_log")
