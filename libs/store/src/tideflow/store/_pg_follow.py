"""Followers of the Postgres event log: one holder per name, position saved on success.

Each batch is one short transaction that locks the follower's row with `FOR UPDATE SKIP
LOCKED`: a second replica skips instead of waiting, and a replica that dies mid-batch
releases the row with its connection, so another one takes over on its next poll without
any lease to expire. Positions are visible in commit order (see `_postgres`), so reading
`position > saved` never skips an event.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from tideflow.store import _pg_sql as sql
from tideflow.store._pg_errors import translated
from tideflow.store._pg_rows import event
from tideflow.store._pg_scope import PLATFORM, begin_sql
from tideflow.store._records import FollowedEvent, LogClaim

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from tideflow.store._codecs import Connection


@asynccontextmanager
async def follow(pool: asyncpg.Pool, name: str, limit: int) -> AsyncIterator[LogClaim | None]:
    """`EventStore.follow` on a pool: the claim's transaction spans the caller's block.

    Only the store's own statements are translated: what the caller's block raises (a
    Kafka error, say) rolls the transaction back and comes out unchanged.
    """
    with translated("follow log"):
        connection = await pool.acquire()
    try:
        with translated("follow log"):
            claim = await _begin(connection, name, limit)
        try:
            yield claim
        except BaseException:
            with translated("follow log"):
                await _end(connection, "ROLLBACK")
            raise
        with translated("follow log"):
            if claim is not None and claim.advanced_to is not None:
                await connection.execute(sql.ADVANCE_FOLLOWER, name, claim.advanced_to)
            await connection.execute("COMMIT")
    finally:
        await pool.release(connection)


BEGIN = begin_sql(PLATFORM)
"""The follower reads every tenant's events (row-level security, migration 0004); the
transaction and its scope begin in one round trip."""


async def follower_position(pool: asyncpg.Pool, name: str) -> int:
    with translated("follower position"):
        value = await pool.fetchval(sql.FOLLOWER_POSITION, name)
    return 0 if value is None else int(value)


async def _begin(connection: Connection, name: str, limit: int) -> LogClaim | None:
    """Open the batch's transaction and claim the follower in it (None: held elsewhere).

    A new follower's row is inserted on its own, committed at once, and then claimed: an
    insert inside the holding transaction would make every other replica's insert wait
    for that whole batch instead of skipping it.
    """
    for created in (False, True):
        await connection.execute(BEGIN)
        try:
            rows = await connection.fetch(sql.FOLLOW, name, limit)
            if rows:
                return _claim(name, rows)
            if created or await connection.fetchval(sql.FOLLOWER_POSITION, name) is not None:
                return None
        except BaseException:
            await _end(connection, "ROLLBACK")
            raise
        await connection.execute("ROLLBACK")
        await connection.execute(sql.ADD_FOLLOWER, name)
    raise AssertionError("unreachable: the second pass always returns")  # pragma: no cover


async def _end(connection: Connection, statement: str) -> None:
    """End the transaction if it is still open (a lost connection has none to end)."""
    if connection.is_in_transaction():
        await connection.execute(statement)


def _claim(name: str, rows: list[asyncpg.Record]) -> LogClaim:
    events = [
        FollowedEvent(event(row), row["workflow_id"] or "", row["version"] or 0)
        for row in rows
        if row["run_id"] is not None
    ]
    return LogClaim(name, int(rows[0]["follower_position"]), events)
