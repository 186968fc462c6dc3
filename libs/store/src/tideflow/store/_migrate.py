"""Schema migrations: numbered `.sql` files shipped with the package, applied in order.

The runner holds a session advisory lock for the whole run, so concurrent `migrate()`
calls (several replicas starting at once) apply each file exactly once: the second caller
waits, then finds everything recorded in `schema_migrations` and applies nothing. Each file
runs in its own transaction together with its bookkeeping row, so a failed file leaves no
trace. A checksum guards against editing a file after it was applied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import asyncpg

from tideflow.store._errors import MigrationError, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from tideflow.store._codecs import Connection

# Arbitrary, fixed key of the migration lock (advisory locks are per database).
_LOCK_KEY = 7_351_204_118_552_601

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    """The migrations shipped with this package, in the order they apply."""
    folder = resources.files("tideflow.store").joinpath("migrations")
    found = [
        Migration(name=entry.name.removesuffix(".sql"), sql=entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda m: m.name)


async def migrate(target: str | asyncpg.Pool | asyncpg.Connection) -> list[str]:
    """Bring the database schema up to date; returns the names applied by this call."""
    try:
        if isinstance(target, str):
            connection = await asyncpg.connect(target)
            try:
                return await _migrate(connection)
            finally:
                await connection.close()
        if isinstance(target, asyncpg.Pool):
            async with target.acquire() as pooled:
                return await _migrate(pooled)
        return await _migrate(target)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
        raise StoreUnavailable(f"cannot migrate: {e}") from e
    except asyncpg.PostgresError as e:
        raise StoreError(f"migration failed: {e}") from e


async def _migrate(connection: Connection) -> list[str]:
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await connection.execute(_BOOKKEEPING)
        rows = await connection.fetch("SELECT name, checksum FROM schema_migrations")
        applied = {row["name"]: row["checksum"] for row in rows}
        done: list[str] = []
        for migration in migrations():
            recorded = applied.get(migration.name)
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationError(f"migration {migration.name} changed after it was applied")
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.name)
        return done
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
