"""`Backlogs` on Postgres: one statement of aggregate counts in the platform scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.store._observability import ACTIVE_RUN_STATUSES, Backlog
from tideflow.store._pg_errors import translated
from tideflow.store._pg_scope import PLATFORM, scoped

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime, timedelta

    import asyncpg

BACKLOG = """
SELECT
    (SELECT count(*) FROM outbox) AS outbox_messages,
    (SELECT coalesce(extract(epoch FROM $1::timestamptz - min(created_at)), 0) FROM outbox)
        AS outbox_oldest,
    (SELECT count(*) FROM timers) AS timers_pending,
    (SELECT count(*) FROM timers WHERE fire_at < $1::timestamptz) AS timers_overdue
"""

ACTIVE_RUNS = """
SELECT status, count(*) AS active,
       count(*) FILTER (WHERE updated_at < $1::timestamptz - $2::interval) AS idle
FROM runs WHERE status = ANY($3::text[]) GROUP BY status
"""


RUN_TRACEPARENTS = """
SELECT run_id, traceparent FROM runs WHERE run_id = ANY($1::text[]) AND traceparent IS NOT NULL
"""


class PostgresBacklogs:
    """`Backlogs` and `RunTraces`, mixed into `PostgresEventStore`."""

    _pool: asyncpg.Pool

    async def backlog(self, *, now: datetime, idle_after: timedelta) -> Backlog:
        with translated("read backlog"):
            async with scoped(self._pool, PLATFORM) as connection:
                counts = await connection.fetchrow(BACKLOG, now)
                runs = await connection.fetch(
                    ACTIVE_RUNS, now, idle_after, list(ACTIVE_RUN_STATUSES)
                )
        assert counts is not None  # noqa: S101 - an aggregate always returns a row
        active = dict.fromkeys(ACTIVE_RUN_STATUSES, 0)
        idle = dict.fromkeys(ACTIVE_RUN_STATUSES, 0)
        for row in runs:
            active[row["status"]] = int(row["active"])
            idle[row["status"]] = int(row["idle"])
        return Backlog(
            outbox_messages=int(counts["outbox_messages"]),
            outbox_oldest_seconds=max(0.0, float(counts["outbox_oldest"])),
            timers_pending=int(counts["timers_pending"]),
            timers_overdue=int(counts["timers_overdue"]),
            runs_active=active,
            runs_idle=idle,
        )

    async def run_traceparents(self, run_ids: Collection[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        with translated("read run traces"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(RUN_TRACEPARENTS, list(run_ids))
        return {row["run_id"]: row["traceparent"] for row in rows}
