"""Outbox rows written inside someone else's transaction (approval decisions, trigger starts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.store import _pg_sql as sql

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from tideflow.store._codecs import Connection
    from tideflow.store._records import OutboxMessage


async def write_outbox(
    connection: Connection, messages: Sequence[OutboxMessage], claimed_for: timedelta | None
) -> list[int]:
    """Insert `messages` (claimed by the writer for `claimed_for`); their ids, in order."""
    if not messages:
        return []
    # one round trip: every row inserted and its id returned, in the order given
    rows = await connection.fetchmany(
        sql.INSERT_OUTBOX,
        [
            (
                m.tenant_id,
                m.topic,
                m.key,
                m.payload,
                [k for k, _ in m.headers],
                [v for _, v in m.headers],
                claimed_for,
            )
            for m in messages
        ],
    )
    return [int(row["id"]) for row in rows]
