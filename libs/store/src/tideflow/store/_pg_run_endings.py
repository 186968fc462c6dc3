"""Run ends from Postgres: `NOTIFY tideflow_run_ended` (migration 0014), one listening
connection for the store (`PostgresNotifications`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.store._pg_notifications import PostgresNotifications
from tideflow.store._run_endings import RUN_ENDED_CHANNEL, RunEndWaiters

if TYPE_CHECKING:
    import asyncpg


class PostgresRunEndings(PostgresNotifications):
    """`watch(run_id)` on a pool; `close()` gives the listening connection back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, RUN_ENDED_CHANNEL, waiters=RunEndWaiters())
