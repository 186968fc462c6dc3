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
    ids = [int(row[0]) for row in await connection.fetch(sql.NEXT_OUTBOX_IDS, len(messages))]
    await connection.executemany(
        sql.INSERT_OUTBOX,
        [
            (
                outbox_id,
                m.tenant_id,
                m.topic,
                m.key,
                m.payload,
                [k for k, _ in m.headers],
                [v for _, v in m.headers],
                claimed_for,
            )
            for outbox_id, m in zip(ids, messages, strict=True)
        ],
    )
    return ids
