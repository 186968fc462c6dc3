"""Tenant scope per transaction, for row-level security.

Every store call runs in a transaction that first says whose rows it may see:
`SET LOCAL tideflow.tenant = '<tenant>'`, or `SET LOCAL tideflow.platform = 'on'` for the
platform's own cross-tenant work (scheduler batches, relay, timers, authentication
lookups). The policies of migration 0004 read those settings; a transaction that sets
neither sees nothing. `BEGIN` and the `SET LOCAL` travel in one round trip (the simple
query protocol takes both); the tenant is validated first, so quoting it is safe.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from tideflow.store._errors import StoreError
from tideflow.store._identity_records import TENANT_NAME

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from tideflow.store._codecs import Connection

PLATFORM: None = None
"""The scope of cross-tenant platform work."""


def begin_sql(tenant_id: str | None) -> str:
    if tenant_id is None:
        return "BEGIN; SET LOCAL tideflow.platform = 'on'"
    if not TENANT_NAME.fullmatch(tenant_id):
        raise StoreError(f"not a valid tenant name: {tenant_id!r}")
    return f"BEGIN; SET LOCAL tideflow.tenant = '{tenant_id}'"


@asynccontextmanager
async def scoped(pool: asyncpg.Pool, tenant_id: str | None) -> AsyncIterator[Connection]:
    """A pooled connection inside a transaction scoped to `tenant_id` (None: platform)."""
    statement = begin_sql(tenant_id)
    async with pool.acquire() as connection, in_scope(connection, statement):
        yield connection


@asynccontextmanager
async def in_scope(connection: Connection, statement: str) -> AsyncIterator[None]:
    await connection.execute(statement)
    try:
        yield
    except BaseException:
        if connection.is_in_transaction():
            await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")
