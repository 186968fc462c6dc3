"""Trigger registrations, cron claims and trigger-started runs on Postgres (asyncpg)."""

# ruff: noqa: S608 - the statements join fixed column lists, never input

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Self

from tideflow.store import _pg_sql as sql
from tideflow.store._errors import NotFound
from tideflow.store._pg_errors import translated
from tideflow.store._pg_outbox import write_outbox
from tideflow.store._pg_rows import run as run_row
from tideflow.store._pg_scope import PLATFORM, scoped
from tideflow.store._records import DEFAULT_TENANT, JSONObject, OutboxMessage
from tideflow.store._triggers import (
    CronClaim,
    ReleasedStart,
    StartOutcome,
    TriggeredRun,
    TriggerRecord,
    TriggerStore,
    TriggerType,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from datetime import datetime, timedelta

    import asyncpg

    from tideflow.store._codecs import Connection
    from tideflow.store._records import RunRecord

_COLUMNS = """tenant_id, workflow_id, trigger_id, type, version, spec, topic, paused,
    next_fire_at, last_fired_at"""

_GET = f"""
SELECT {_COLUMNS} FROM triggers WHERE tenant_id = $1 AND workflow_id = $2 AND trigger_id = $3
"""
_LIST = f"""
SELECT {_COLUMNS} FROM triggers WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY trigger_id
"""
_WORKFLOW_EXISTS = """
SELECT EXISTS (SELECT 1 FROM workflows WHERE tenant_id = $1 AND workflow_id = $2)
"""
_EVENTS = f"""
SELECT {_COLUMNS} FROM triggers WHERE type = 'event' ORDER BY tenant_id, workflow_id, trigger_id
"""
_PAUSE = f"""
UPDATE triggers SET paused = $4, updated_at = now(),
    next_fire_at = CASE WHEN $4 THEN next_fire_at ELSE NULL END
WHERE tenant_id = $1 AND workflow_id = $2 AND trigger_id = $3
RETURNING {_COLUMNS}
"""
_CLAIM_CRON = f"""
SELECT {_COLUMNS} FROM triggers
WHERE type = 'cron' AND NOT paused AND (next_fire_at IS NULL OR next_fire_at <= $1)
ORDER BY next_fire_at NULLS FIRST
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
_ADVANCE = """
UPDATE triggers SET next_fire_at = $4, last_fired_at = coalesce($5, last_fired_at),
    updated_at = now()
WHERE tenant_id = $1 AND workflow_id = $2 AND trigger_id = $3
"""
_INSERT_RUN = f"""
INSERT INTO runs (run_id, tenant_id, workflow_id, version, status, input, idempotency_key,
                  started_at, updated_at)
VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, now())
ON CONFLICT (tenant_id, workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL
DO NOTHING
RETURNING {sql.RUN_COLUMNS}
"""
_FIND_RUN = f"""
SELECT {sql.RUN_COLUMNS} FROM runs
WHERE tenant_id = $1 AND workflow_id = $2 AND idempotency_key = $3
"""

# Event-trigger starts over their tenant's run-start limit (migrations 0025, 0025b): the
# run and its StartRun wait here; the release records the run and moves the StartRun to
# the outbox in one transaction.
_DEFER = """
INSERT INTO trigger_deferred_starts (tenant_id, run_id, topic, key, payload, header_keys,
    header_values, workflow_id, version, input, idempotency_key, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL
DO NOTHING
"""
_DEFERRED_TENANTS = """
SELECT DISTINCT tenant_id FROM trigger_deferred_starts
WHERE claimed_until IS NULL OR claimed_until <= now()
ORDER BY tenant_id
"""
_CLAIM_DEFERRED = """
UPDATE trigger_deferred_starts SET claimed_until = now() + $3::interval
WHERE id IN (
    SELECT id FROM trigger_deferred_starts
    WHERE tenant_id = $1 AND (claimed_until IS NULL OR claimed_until <= now())
    ORDER BY id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
_TAKE_DEFERRED = """
DELETE FROM trigger_deferred_starts WHERE id = ANY($1::bigint[])
RETURNING id, tenant_id, run_id, topic, key, payload, header_keys, header_values,
    workflow_id, version, input, idempotency_key, started_at
"""
_HOLD_DEFERRED = """
UPDATE trigger_deferred_starts SET claimed_until = now() + $2::interval
WHERE id = ANY($1::bigint[])
"""

# Registration, run by the publishing transaction. A cron row keeps its next tick while
# its schedule and time zone stay the same; otherwise the trigger service computes it anew.
_DROP_OTHERS = """
DELETE FROM triggers WHERE tenant_id = $1 AND workflow_id = $2 AND NOT (trigger_id = ANY($3))
"""
_UPSERT = """
INSERT INTO triggers (tenant_id, workflow_id, trigger_id, type, version, spec, topic)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, workflow_id, trigger_id) DO UPDATE SET
    type = EXCLUDED.type,
    version = EXCLUDED.version,
    spec = EXCLUDED.spec,
    topic = EXCLUDED.topic,
    next_fire_at = CASE
        WHEN triggers.type = EXCLUDED.type
             AND triggers.spec -> 'schedule' IS NOT DISTINCT FROM EXCLUDED.spec -> 'schedule'
             AND triggers.spec -> 'timezone' IS NOT DISTINCT FROM EXCLUDED.spec -> 'timezone'
        THEN triggers.next_fire_at
    END,
    updated_at = now()
"""
_DEFINITION = """
SELECT definition FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3
"""
_DROP_ALL = "DELETE FROM triggers WHERE tenant_id = $1 AND workflow_id = $2"
_LATEST = """
SELECT version, definition FROM workflow_versions
WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY version DESC LIMIT 1
"""


def declared_triggers(definition: JSONObject) -> list[JSONObject]:
    """The well-formed entries of `spec.triggers` (validation rejects the others first)."""
    spec = definition.get("spec")
    raw = spec.get("triggers") if isinstance(spec, dict) else None
    if not isinstance(raw, list):
        return []
    types = {str(t) for t in TriggerType}
    return [
        t
        for t in raw
        if isinstance(t, dict) and isinstance(t.get("id"), str) and t.get("type") in types
    ]


async def sync_triggers(
    connection: Connection,
    tenant_id: str,
    workflow_id: str,
    version: int | None,
    definition: JSONObject | None,
) -> None:
    """Make the registrations match `definition` (None: the workflow has none, e.g. archived)."""
    if definition is None or version is None:
        await connection.execute(_DROP_ALL, tenant_id, workflow_id)
        return
    declared = declared_triggers(definition)
    await connection.execute(_DROP_OTHERS, tenant_id, workflow_id, [t["id"] for t in declared])
    await connection.executemany(
        _UPSERT,
        [
            (
                tenant_id,
                workflow_id,
                t["id"],
                t["type"],
                version,
                t,
                t.get("topic") if t["type"] == TriggerType.EVENT else None,
            )
            for t in declared
        ],
    )


async def sync_latest(connection: Connection, tenant_id: str, workflow_id: str) -> None:
    """Register the triggers of the latest published version (a restored workflow)."""
    row = await connection.fetchrow(_LATEST, tenant_id, workflow_id)
    if row is None:
        await sync_triggers(connection, tenant_id, workflow_id, None, None)
    else:
        await sync_triggers(connection, tenant_id, workflow_id, row["version"], row["definition"])


class PostgresTriggerStore(TriggerStore):
    """`TriggerStore` over a pool made by `create_pool` (JSON codecs installed)."""

    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 5, role: str | None = None
    ) -> Self:
        """Open a pool of its own (closed by `close`)."""
        from tideflow.store._postgres import create_pool  # noqa: PLC0415 - avoid a cycle

        pool = await create_pool(dsn, min_size=min_size, max_size=max_size, role=role)
        return cls(pool, owns_pool=True)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def get_trigger(
        self, workflow_id: str, trigger_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> TriggerRecord:
        with translated("get trigger"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_GET, tenant_id, workflow_id, trigger_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} has no trigger {trigger_id}")
        return _trigger(row)

    async def list_triggers(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[TriggerRecord]:
        with translated("list triggers"):
            async with scoped(self._pool, tenant_id) as connection:
                if not await connection.fetchval(_WORKFLOW_EXISTS, tenant_id, workflow_id):
                    raise NotFound(f"no workflow {workflow_id}")
                rows = await connection.fetch(_LIST, tenant_id, workflow_id)
        return [_trigger(row) for row in rows]

    async def get_definition(
        self, workflow_id: str, version: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> JSONObject:
        with translated("get definition"):
            async with scoped(self._pool, tenant_id) as connection:
                found = await connection.fetchval(_DEFINITION, tenant_id, workflow_id, version)
        if found is None:
            raise NotFound(f"workflow {workflow_id} has no version {version}")
        definition: JSONObject = found
        return definition

    async def event_triggers(self) -> list[TriggerRecord]:
        with translated("list event triggers"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(_EVENTS)
        return [_trigger(row) for row in rows]

    async def set_paused(
        self, workflow_id: str, trigger_id: str, paused: bool, *, tenant_id: str = DEFAULT_TENANT
    ) -> TriggerRecord:
        with translated("pause trigger"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_PAUSE, tenant_id, workflow_id, trigger_id, paused)
        if row is None:
            raise NotFound(f"workflow {workflow_id} has no trigger {trigger_id}")
        return _trigger(row)

    async def start_runs(
        self, runs: Sequence[TriggeredRun], *, outbox_claimed_for: timedelta | None = None
    ) -> list[StartOutcome]:
        if not runs:
            return []
        # Platform scope: the runs of an event batch may belong to several tenants.
        with translated("start triggered runs"):
            async with scoped(self._pool, PLATFORM) as connection:
                return await _start(connection, runs, outbox_claimed_for)

    async def find_started(
        self, workflow_id: str, idempotency_key: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> RunRecord | None:
        with translated("find triggered run"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_FIND_RUN, tenant_id, workflow_id, idempotency_key)
        return None if row is None else run_row(row)

    @contextlib.asynccontextmanager
    async def claim_due_cron(
        self, now: datetime, limit: int, *, outbox_claimed_for: timedelta | None = None
    ) -> AsyncIterator[CronClaim]:
        with translated("claim cron triggers"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(_CLAIM_CRON, now, limit)
                claim = CronClaim(due=[_trigger(row) for row in rows])
                yield claim
                for trigger, runs, next_fire_at in claim.fired:
                    outcomes = await _start(connection, runs, outbox_claimed_for)
                    claim.outcomes.extend(outcomes)
                    await connection.execute(
                        _ADVANCE, trigger.tenant_id, trigger.workflow_id, trigger.trigger_id,
                        next_fire_at, now if runs else None,
                    )  # fmt: skip

    async def delete_outbox(self, ids: Sequence[int]) -> None:
        if ids:
            with translated("delete outbox"):
                async with scoped(self._pool, PLATFORM) as connection:
                    await connection.execute(sql.DELETE_OUTBOX, list(ids))

    async def deferred_tenants(self) -> list[str]:
        with translated("list deferred starts"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(_DEFERRED_TENANTS)
        return [str(row["tenant_id"]) for row in rows]

    async def claim_deferred(self, tenant_id: str, limit: int, claim_for: timedelta) -> list[int]:
        with translated("claim deferred starts"):
            async with scoped(self._pool, tenant_id) as connection:
                rows = await connection.fetch(_CLAIM_DEFERRED, tenant_id, limit, claim_for)
        return sorted(int(row["id"]) for row in rows)

    async def release_deferred(
        self,
        start: Sequence[int],
        hold: Sequence[int],
        *,
        hold_for: timedelta,
        outbox_claimed_for: timedelta | None = None,
    ) -> list[ReleasedStart]:
        if not start and not hold:
            return []
        with translated("release deferred starts"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(_TAKE_DEFERRED, list(start))
                if hold:
                    await connection.execute(_HOLD_DEFERRED, list(hold), hold_for)
                ordered = sorted(rows, key=lambda row: int(row["id"]))
                return await _record_deferred(connection, ordered, outbox_claimed_for)


async def _start(
    connection: Connection, runs: Sequence[TriggeredRun], claimed_for: timedelta | None
) -> list[StartOutcome]:
    outcomes: list[StartOutcome] = []
    for triggered in runs:
        r = triggered.run
        if triggered.deferred:
            outcomes.append(await _defer(connection, triggered))
            continue
        row = await connection.fetchrow(
            _INSERT_RUN, r.run_id, r.tenant_id, r.workflow_id, r.version, r.input,
            r.idempotency_key, r.started_at,
        )  # fmt: skip
        if row is None:
            existing = await connection.fetchrow(
                _FIND_RUN, r.tenant_id, r.workflow_id, r.idempotency_key
            )
            if existing is None:  # pragma: no cover - the conflict names this very row
                raise NotFound(f"run with key {r.idempotency_key} vanished")
            outcomes.append(StartOutcome(run=run_row(existing), created=False))
            continue
        ids = await write_outbox(connection, [triggered.start], claimed_for)
        outcomes.append(StartOutcome(run=run_row(row), created=True, outbox_id=ids[0]))
    return outcomes


async def _defer(connection: Connection, triggered: TriggeredRun) -> StartOutcome:
    """Park a run and its StartRun, unless its key already names a run (that one is the
    outcome) or a parked start (nothing more is parked)."""
    r, m = triggered.run, triggered.start
    existing = await connection.fetchrow(_FIND_RUN, r.tenant_id, r.workflow_id, r.idempotency_key)
    if existing is not None:
        return StartOutcome(run=run_row(existing), created=False)
    await connection.execute(
        _DEFER, r.tenant_id, r.run_id, m.topic, m.key, m.payload, [k for k, _ in m.headers],
        [v for _, v in m.headers], r.workflow_id, r.version, r.input, r.idempotency_key,
        r.started_at,
    )  # fmt: skip
    return StartOutcome(run=r, created=False, deferred=True)


async def _record_deferred(
    connection: Connection, rows: Sequence[Any], claimed_for: timedelta | None
) -> list[ReleasedStart]:
    """Record the runs of released deferred starts and put their StartRuns in the outbox;
    a run its key already names (a redelivered message started it) sends nothing."""
    released: list[ReleasedStart] = []
    for row in rows:
        message = OutboxMessage(
            topic=row["topic"],
            payload=row["payload"],
            key=row["key"],
            headers=tuple(zip(row["header_keys"], row["header_values"], strict=True)),
            tenant_id=row["tenant_id"],
        )
        if row["workflow_id"] is not None:  # migration 0025's rows have their run already
            inserted = await connection.fetchrow(
                _INSERT_RUN, row["run_id"], row["tenant_id"], row["workflow_id"],
                row["version"], row["input"], row["idempotency_key"], row["started_at"],
            )  # fmt: skip
            if inserted is None:
                continue
        (outbox_id,) = await write_outbox(connection, [message], claimed_for)
        released.append(ReleasedStart(outbox_id=outbox_id, message=message))
    return released


def _trigger(row: Any) -> TriggerRecord:
    values = dict(row.items())
    values["type"] = TriggerType(values["type"])
    return TriggerRecord(**values)
