"""The event store on Postgres (asyncpg).

Appends are optimistic and gapless: under the event-log lock the store reads each run's
last seq, refuses the whole write with `ConcurrencyConflict` if it is not the expected one,
and inserts seq = expected + 1, 2, ... ; the primary key (run_id, seq) backs this up.

Why a lock at all: followers (`read_all`) track a global `position` and must never miss an
event. A plain bigserial is assigned at insert time, but transactions commit in another
order, so a follower could read position 11 while 10 is still uncommitted and then skip it
for ever. Like pyeventsourcing's Postgres recorder (which takes `LOCK TABLE ... IN EXCLUSIVE
MODE` before inserting), we serialise appending transactions: a transaction-level advisory
lock is taken in the round trip that begins the transaction and released by the commit
itself. Positions are therefore assigned and made visible in commit order. The whole batch
(projections, outbox, timers, the conflict check and the events) is then one statement
(`_pg_commit`), so the lock is held for that statement and the commit: three round trips
in all, whatever the batch holds. Every holder takes the lock before any row lock, so no
holder waits for another's rows and the lock cannot take part in a deadlock. Scheduler
batches amortise the serialisation over many runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import asyncpg

from tideflow.store import _pg_follow
from tideflow.store import _pg_sql as sql
from tideflow.store._codecs import setup_connection
from tideflow.store._errors import ConcurrencyConflict, NotFound, RunConflict, StoreError
from tideflow.store._migrate import migrate
from tideflow.store._pg_command_keys import PostgresCommandKeys
from tideflow.store._pg_commit import commit_statement, latest_timers, timer_columns
from tideflow.store._pg_errors import translated
from tideflow.store._pg_identity import PostgresIdentities
from tideflow.store._pg_observability import PostgresBacklogs
from tideflow.store._pg_rows import event, log_line, outbox_message, run, snapshot, step, timer
from tideflow.store._pg_run_endings import PostgresRunEndings
from tideflow.store._pg_scope import PLATFORM, ScopedConnection, begin_sql, in_scope
from tideflow.store._pg_webhooks import PostgresWebhooks
from tideflow.store._pg_workflows import PostgresWorkflows
from tideflow.store._port import EventStore
from tideflow.store._records import (
    DEFAULT_TENANT,
    CommitBatch,
    CommitResult,
    LogClaim,
    LogLine,
    NewEvent,
    RunAppend,
    RunCursor,
    RunFilter,
    RunPage,
    RunRecord,
    Snapshot,
    StepRecord,
    StoredEvent,
    StoredLogLine,
    StoredOutboxMessage,
    Timer,
    TimerKey,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Collection, Sequence
    from contextlib import AbstractAsyncContextManager


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, role: str | None = None
) -> asyncpg.Pool:
    """A pool with the orjson codecs; `role` makes every session run as that role."""
    settings = {"application_name": "tideflow"}
    if role is not None:
        settings["role"] = role
    with translated("connect"):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=setup_connection,
            server_settings=settings,
            reset=_end_transaction,
            connection_class=ScopedConnection,
        )


async def _end_transaction(connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: no open transaction.

    asyncpg's default reset (advisory unlock all, CLOSE ALL, UNLISTEN *, RESET ALL) costs
    a round trip on every release, i.e. on every store call. The store never takes session
    advisory locks, opens cursors outside a transaction, LISTENs or SETs session variables
    other than the tenant scope, which `_pg_scope` remembers per connection and every store
    call sets before it reads), so none of that state can be left behind; an abandoned
    transaction is the one thing to clean up, and asyncpg already rolls it back whenever
    the connection is still in one.
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class PostgresEventStore(
    PostgresWorkflows,
    PostgresIdentities,
    PostgresBacklogs,
    PostgresWebhooks,
    PostgresCommandKeys,
    EventStore,
):
    """`EventStore` over an asyncpg pool created by `create_pool` (codecs installed)."""

    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False) -> None:
        super().__init__(pool)
        self._owns_pool = owns_pool
        self._run_endings = PostgresRunEndings(pool)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        role: str | None = None,
        apply_migrations: bool = False,
    ) -> Self:
        """Open a pool of its own (closed by `close`), optionally migrating first."""
        if apply_migrations:
            await migrate(dsn)
        pool = await create_pool(dsn, min_size=min_size, max_size=max_size, role=role)
        return cls(pool, owns_pool=True)

    async def close(self) -> None:
        await self._run_endings.close()
        await self._stop_watching_credentials()
        if self._owns_pool:
            await self._pool.close()

    def watch_run_end(self, run_id: str) -> AbstractAsyncContextManager[asyncio.Event]:
        return self._run_endings.watch(run_id)

    # -- the event log -------------------------------------------------------------------

    async def append(
        self,
        run_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        *,
        tenant_id: str = DEFAULT_TENANT,
    ) -> list[StoredEvent]:
        batch = CommitBatch(appends=(RunAppend(run_id, expected_seq, events, tenant_id),))
        result = await self.commit_batch(batch)
        return result.events[run_id]

    async def commit_batch(self, batch: CommitBatch) -> CommitResult:
        _check_unique_runs(batch.appends)
        # The runs projection carries the seq the appends will reach: if one of them
        # conflicts, nothing of the transaction stays anyway.
        last = {a.run_id: a.expected_seq + len(a.events) for a in batch.appends}
        runs = [replace(r, last_seq=last[r.run_id]) if r.run_id in last else r for r in batch.runs]
        statement = commit_statement(batch, runs)
        if statement is None:
            return CommitResult(events={}, outbox_ids=[])
        # the statement is planned once per connection and shape: a small batch's own
        # plan (its arrays' lengths known) looks cheaper than the generic one, so Postgres
        # would plan the whole statement again on every commit (2.5 -> 1.2 ms of server
        # CPU per one-run commit)
        begin = begin_sql(_batch_tenant(batch)) + "; SET LOCAL plan_cache_mode = force_generic_plan"
        if statement.appends:
            begin += f"; {sql.LOCK_LOG}"
        with translated("commit batch"):
            async with self._pool.acquire() as connection, in_scope(connection, begin):
                row = await connection.fetchrow(statement.sql, *statement.args)
                if row is None:  # pragma: no cover - a SELECT without FROM has one row
                    raise StoreError("the commit statement returned nothing")
                events = _appended(batch.appends, row)
        return CommitResult(events=events, outbox_ids=_outbox_ids(batch, row))

    async def read(
        self,
        run_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        tenant_id: str | None = PLATFORM,
    ) -> list[StoredEvent]:
        with translated("read run"):
            rows = await self._fetch(tenant_id, sql.READ_RUN, run_id, after_seq, limit)
        return [event(row) for row in rows]

    async def read_many(self, run_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {run_id: [] for run_id in run_ids}
        if not found:
            return found
        with translated("read runs"):
            rows = await self._fetch(PLATFORM, sql.READ_RUNS, list(found))
        for row in rows:
            found[row["run_id"]].append(event(row))
        return found

    async def load_runs(
        self, run_ids: Collection[str]
    ) -> dict[str, tuple[Snapshot | None, list[StoredEvent]]]:
        wanted = list(dict.fromkeys(run_ids))
        if not wanted:
            return {}
        with translated("load runs"):
            rows = await self._fetch(PLATFORM, sql.LOAD_RUNS, wanted)
        snapshots: dict[str, Snapshot] = {}
        events: dict[str, list[StoredEvent]] = {run_id: [] for run_id in wanted}
        for row in rows:
            if row["kind"] == "s":
                snapshots[row["run_id"]] = Snapshot(
                    row["run_id"], row["seq"], row["data"], row["tenant_id"]
                )
            else:
                events[row["run_id"]].append(event(row))
        return {run_id: (snapshots.get(run_id), events[run_id]) for run_id in wanted}

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        with translated("read log"):
            rows = await self._fetch(PLATFORM, sql.READ_ALL, after_position, limit)
        return [event(row) for row in rows]

    async def last_position(self) -> int:
        with translated("last position"):
            value = await self._fetchval(PLATFORM, sql.LAST_POSITION)
        return int(value)

    def follow(self, name: str, limit: int = 500) -> AbstractAsyncContextManager[LogClaim | None]:
        return _pg_follow.follow(self._pool, name, limit)

    async def follower_position(self, name: str) -> int:
        return await _pg_follow.follower_position(self._pool, name)

    async def latest_snapshot(self, run_id: str) -> Snapshot | None:
        with translated("latest snapshot"):
            row = await self._fetchrow(PLATFORM, sql.LATEST_SNAPSHOT, run_id)
        return None if row is None else snapshot(row)

    async def is_processed(self, command_ids: Collection[str]) -> set[str]:
        if not command_ids:
            return set()
        with translated("is processed"):
            rows = await self._fetch(PLATFORM, sql.PROCESSED, list(command_ids))
        return {row["command_id"] for row in rows}

    # -- run projections -----------------------------------------------------------------

    async def get_run(
        self, run_id: str, *, tenant_id: str | None = PLATFORM, preview_over: int | None = None
    ) -> RunRecord:
        with translated("get run"):
            if preview_over is None:
                row = await self._fetchrow(tenant_id, sql.GET_RUN, run_id)
            else:
                query, args = sql.GET_RUN_PREVIEWED, (run_id, preview_over)
                row = await self._fetchrow(tenant_id, query, *args)
        # RLS already hides other tenants' rows; the check also holds for an owner session
        if row is None or tenant_id not in {None, row["tenant_id"]}:
            raise NotFound(f"run {run_id} not found")
        return run(row)

    async def find_run_by_idempotency_key(
        self, workflow_id: str, idempotency_key: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> RunRecord | None:
        with translated("find run"):
            row = await self._fetchrow(
                tenant_id, sql.RUN_BY_KEY, tenant_id, workflow_id, idempotency_key
            )
        return None if row is None else run(row)

    async def list_runs(
        self, run_filter: RunFilter, *, limit: int = 50, after: RunCursor | None = None
    ) -> RunPage:
        query, args = _list_runs_query(run_filter, limit + 1, after)
        with translated("list runs"):
            rows = await self._fetch(run_filter.tenant_id, query, *args)
        runs = [run(row) for row in rows[:limit]]
        more = len(rows) > limit
        cursor = RunCursor(_started(runs[-1]), runs[-1].run_id) if more and runs else None
        return RunPage(runs=runs, next_cursor=cursor)

    async def get_steps(
        self, run_id: str, *, tenant_id: str | None = PLATFORM, preview_over: int | None = None
    ) -> list[StepRecord]:
        with translated("get steps"):
            if preview_over is None:
                rows = await self._fetch(tenant_id, sql.GET_STEPS, run_id)
            else:
                query = sql.GET_STEPS_PREVIEWED
                rows = await self._fetch(tenant_id, query, run_id, preview_over)
        return [step(row) for row in rows]

    # -- outbox, timers, logs ------------------------------------------------------------

    async def claim_outbox(
        self, limit: int, *, lease: timedelta = timedelta(seconds=30)
    ) -> list[StoredOutboxMessage]:
        with translated("claim outbox"):
            rows = await self._fetch(PLATFORM, sql.CLAIM_OUTBOX, limit, lease)
        return sorted((outbox_message(row) for row in rows), key=lambda m: m.id)

    async def delete_outbox(self, ids: Collection[int]) -> None:
        if ids:
            with translated("delete outbox"):
                await self._execute(PLATFORM, sql.DELETE_OUTBOX, list(ids))

    async def schedule_timers(self, timers: Sequence[Timer]) -> None:
        if timers:
            with translated("schedule timers"):
                # one statement: a timer given twice is set once, as the last says
                latest = latest_timers(timers).values()
                await self._execute(PLATFORM, sql.UPSERT_TIMERS, *timer_columns(latest))

    async def claim_due_timers(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        with translated("claim timers"):
            rows = await self._fetch(PLATFORM, sql.CLAIM_TIMERS, now, limit, lease)
        return sorted((timer(row) for row in rows), key=lambda t: (t.fire_at, t.run_id, t.timer_id))

    async def complete_timers(self, timers: Collection[TimerKey]) -> None:
        if timers:
            with translated("complete timers"):
                await self._execute(PLATFORM, sql.DELETE_TIMERS, *_timer_keys(timers))

    async def append_logs(self, lines: Sequence[LogLine]) -> list[StoredLogLine]:
        if not lines:
            return []
        columns = (
            [line.run_id for line in lines],
            [line.node_id for line in lines],
            [line.level for line in lines],
            [line.message for line in lines],
            [line.attempt for line in lines],
            [line.ts for line in lines],
            [line.tenant_id for line in lines],
        )
        with translated("append logs"):
            rows = await self._fetch(PLATFORM, sql.INSERT_LOGS, *columns)
        return sorted((log_line(row) for row in rows), key=lambda line: line.id)

    async def read_logs(
        self,
        run_id: str,
        *,
        node_id: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        tenant_id: str | None = PLATFORM,
    ) -> list[StoredLogLine]:
        with translated("read logs"):
            rows = await self._fetch(tenant_id, sql.READ_LOGS, run_id, after_id, node_id, limit)
        return [log_line(row) for row in rows]

    # -- retention -----------------------------------------------------------------------

    async def purge_runs_older_than(self, cutoff: datetime, batch_size: int = 500) -> int:
        total = 0
        with translated("purge runs"):
            while True:
                purged = int(await self._fetchval(PLATFORM, sql.PURGE, cutoff, batch_size))
                total += purged
                if purged < batch_size:
                    return total


def _batch_tenant(batch: CommitBatch) -> str | None:
    """The one tenant a batch writes for (the gateway's), else the platform scope (the
    scheduler's batches span tenants); with one tenant, RLS checks every row written."""
    tenants = {a.tenant_id for a in batch.appends}
    tenants |= {r.tenant_id for r in batch.runs}
    tenants |= {s.tenant_id for s in batch.steps}
    tenants |= {s.tenant_id for s in batch.snapshots}
    tenants |= {t.tenant_id for t in batch.timers}
    tenants |= {m.tenant_id for m in batch.outbox}
    tenants |= {p.tenant_id for p in batch.processed}
    tenants |= {e.tenant_id for e in batch.audit}
    tenants |= {row.tenant_id for row in batch.sent_outbox}
    if len(tenants) == 1:
        return next(iter(tenants))
    return PLATFORM


def _check_unique_runs(appends: Sequence[RunAppend]) -> None:
    seen: set[str] = set()
    for append in appends:
        if append.run_id in seen:
            raise StoreError(f"run {append.run_id} appears twice in one batch")
        seen.add(append.run_id)


def _outbox_ids(batch: CommitBatch, row: asyncpg.Record) -> list[int]:
    return list(row["outbox_ids"] or []) if batch.outbox else []


def _appended(appends: Sequence[RunAppend], row: asyncpg.Record) -> dict[str, list[StoredEvent]]:
    """The stored events, or `ConcurrencyConflict` when a run was not at its expected seq
    (then the statement inserted no event, and raising rolls the rest back)."""
    if not appends:
        return {}
    found = dict(zip(row["checked_runs"], row["last_seqs"], strict=True))
    conflicts = tuple(
        RunConflict(a.run_id, a.expected_seq, int(found[a.run_id]))
        for a in appends
        if found[a.run_id] != a.expected_seq
    )
    if conflicts:
        raise ConcurrencyConflict(conflicts)
    stored: dict[str, list[StoredEvent]] = {a.run_id: [] for a in appends}
    if not any(a.events for a in appends):  # only the check
        return stored
    positions = {
        (run_id, seq): position
        for run_id, seq, position in zip(
            row["event_runs"], row["event_seqs"], row["event_positions"], strict=True
        )
    }
    recorded_at = row["recorded_at"]
    for a in appends:
        for offset, e in enumerate(a.events, start=1):
            seq = a.expected_seq + offset
            stored[a.run_id].append(
                StoredEvent(
                    run_id=a.run_id,
                    seq=seq,
                    type=e.type,
                    data=e.data,
                    recorded_at=recorded_at,
                    position=positions[a.run_id, seq],
                    tenant_id=a.tenant_id,
                )
            )
    return stored


def _timer_keys(keys: Collection[TimerKey]) -> tuple[list[str], list[str]]:
    """(run ids, timer ids) as two parallel arrays for `unnest`."""
    return [k.run_id for k in keys], [k.timer_id for k in keys]


def _started(record: RunRecord) -> datetime:
    if record.started_at is None:  # pragma: no cover - the column is NOT NULL
        raise StoreError(f"run {record.run_id} has no start time")
    return record.started_at


def _list_runs_query(
    run_filter: RunFilter, limit: int, after: RunCursor | None
) -> tuple[str, list[Any]]:
    """Compose the keyset query from fixed fragments; values always travel as parameters."""
    conditions: list[str] = []
    args: list[Any] = []

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if run_filter.tenant_id is not None:
        conditions.append(f"tenant_id = {param(run_filter.tenant_id)}")
    if run_filter.workflow_id is not None:
        conditions.append(f"workflow_id = {param(run_filter.workflow_id)}")
    if run_filter.statuses is not None:
        conditions.append(f"status = ANY({param(list(run_filter.statuses))}::text[])")
    if run_filter.started_after is not None:
        conditions.append(f"started_at >= {param(run_filter.started_after)}")
    if run_filter.started_before is not None:
        conditions.append(f"started_at < {param(run_filter.started_before)}")
    if run_filter.parent_run_id is not None:
        conditions.append(f"parent_run_id = {param(run_filter.parent_run_id)}")
    if after is not None:
        conditions.append(
            f"(started_at, run_id) < ({param(after.started_at)}, {param(after.run_id)})"
        )
    where = " AND ".join(conditions) or "true"
    query = (
        f"SELECT {sql.RUN_COLUMNS} FROM runs WHERE {where} "  # noqa: S608 - fixed fragments
        f"ORDER BY started_at DESC, run_id DESC LIMIT {param(limit)}"
    )
    return query, args
