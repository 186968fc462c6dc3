"""Tenant scope, for row-level security, in as few round trips as possible.

Every store call says whose rows it may see: the tenant (`tideflow.tenant = '<tenant>'`),
or the platform's own cross-tenant work (`tideflow.platform = 'on'`: scheduler batches,
relay, timers, authentication lookups). The policies of migration 0004 read those two
settings; a session that sets neither sees nothing.

- A transaction (`scoped`) opens with `BEGIN; SET LOCAL` of *both* settings in one round
  trip (the simple query protocol takes all three), so whatever the session was set to
  before cannot leak into it.
- A single statement (`one_statement`) runs on its own, autocommitted, in one round trip:
  a `BEGIN`/`SET LOCAL`/`COMMIT` around it would triple its round trips, and a store call
  is mostly one statement. Its scope is a *session* setting instead, set only when the
  pooled connection was last set to another scope (`ScopedConnection` remembers it), so a
  process that serves one tenant, or the platform, sets it once per connection.

The tenant is validated before it is quoted, so the interpolation is safe.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

import asyncpg

from tideflow.store._errors import StoreError
from tideflow.store._identity_records import TENANT_NAME

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tideflow.store._codecs import Connection

PLATFORM: None = None
"""The scope of cross-tenant platform work."""

_UNKNOWN = ""


class ScopedConnection(asyncpg.Connection):
    """A connection that remembers which session scope it was last set to.

    The pool makes its connections of this class (`connection_class`); a pooled proxy
    forwards the two methods to it.
    """

    __slots__ = ("_tideflow_session_scope",)

    def session_scope(self) -> str:
        return getattr(self, "_tideflow_session_scope", _UNKNOWN)

    def note_session_scope(self, statement: str) -> None:
        self._tideflow_session_scope = statement


def _tenant(tenant_id: str) -> str:
    if not TENANT_NAME.fullmatch(tenant_id):
        raise StoreError(f"not a valid tenant name: {tenant_id!r}")
    return tenant_id


def begin_sql(tenant_id: str | None) -> str:
    """Open a transaction scoped to `tenant_id` (None: the platform), whatever the session."""
    if tenant_id is None:
        return "BEGIN; SET LOCAL tideflow.platform = 'on'; SET LOCAL tideflow.tenant = ''"
    tenant = _tenant(tenant_id)
    return f"BEGIN; SET LOCAL tideflow.tenant = '{tenant}'; SET LOCAL tideflow.platform = 'off'"


def session_sql(tenant_id: str | None) -> str:
    """Scope the session (outside any transaction) to `tenant_id` (None: the platform)."""
    if tenant_id is None:
        return "SET tideflow.platform = 'on'; SET tideflow.tenant = ''"
    tenant = _tenant(tenant_id)
    return f"SET tideflow.tenant = '{tenant}'; SET tideflow.platform = 'off'"


@asynccontextmanager
async def scoped(pool: asyncpg.Pool, tenant_id: str | None) -> AsyncIterator[Connection]:
    """A pooled connection inside a transaction scoped to `tenant_id` (None: platform)."""
    statement = begin_sql(tenant_id)
    async with pool.acquire() as connection, in_scope(connection, statement):
        yield connection


@asynccontextmanager
async def one_statement(pool: asyncpg.Pool, tenant_id: str | None) -> AsyncIterator[Connection]:
    """A pooled connection whose session is scoped to `tenant_id`, for one autocommitted
    statement (several would not be atomic: use `scoped` for those)."""
    statement = session_sql(tenant_id)
    async with pool.acquire() as connection:
        remembers = getattr(connection, "session_scope", None)
        if remembers is None:  # a pool not made by `create_pool`: a transaction then
            async with in_scope(connection, begin_sql(tenant_id)):
                yield connection
            return
        scoped_connection = cast("ScopedConnection", connection)
        if scoped_connection.session_scope() != statement:
            scoped_connection.note_session_scope(_UNKNOWN)
            await connection.execute(statement)
            scoped_connection.note_session_scope(statement)
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
