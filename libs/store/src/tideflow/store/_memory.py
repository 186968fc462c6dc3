"""The event store in memory, for `tide dev` without a database and for fast tests.

It passes the same contract suite as the Postgres store. JSON values are copied through
orjson on the way in and out, so callers see the same isolation (and the same errors for
values that are not JSON) as with a real database. Every method runs without awaiting in
the middle of a change, which makes each one atomic on the event loop.
"""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from tideflow.store._command_keys import InMemoryCommandKeys
from tideflow.store._errors import (
    AlreadyExists,
    ConcurrencyConflict,
    NotFound,
    RunConflict,
    StoreError,
)
from tideflow.store._memory_identity import InMemoryIdentities
from tideflow.store._memory_workflows import InMemoryWorkflows
from tideflow.store._observability import ACTIVE_RUN_STATUSES, Backlog
from tideflow.store._port import TRUNCATED, EventStore
from tideflow.store._records import (
    DEFAULT_TENANT,
    CommitBatch,
    CommitResult,
    FollowedEvent,
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
from tideflow.store._run_endings import TERMINAL_STATUSES, RunEndWaiters

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Collection, Sequence

T = TypeVar("T")


def previewed(value: Any, over: int) -> Any:
    """`value`, or its `TRUNCATED` marker when its JSON is longer than `over` bytes
    (what Postgres computes in SQL for `preview_over`)."""
    text = orjson.dumps(value).decode()
    if value is None or len(text.encode()) <= over:
        return value
    return {TRUNCATED: {"bytes": len(text.encode()), "preview": text[:512]}}


def _copy(value: T) -> T:
    """A deep copy that also proves the value is JSON, as the database would."""
    try:
        copied: T = orjson.loads(orjson.dumps(value))
    except TypeError as e:
        raise StoreError(f"value is not JSON: {e}") from e
    return copied


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryEventStore(InMemoryWorkflows, InMemoryIdentities, InMemoryCommandKeys, EventStore):
    """`EventStore` held in dictionaries."""

    def __init__(self) -> None:
        InMemoryWorkflows.__init__(self)
        InMemoryIdentities.__init__(self)
        InMemoryCommandKeys.__init__(self)
        self._events: dict[str, list[StoredEvent]] = {}
        self._run_end_waiters = RunEndWaiters()
        self._positions = itertools.count(1)
        self._last_position = 0
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[tuple[str, str], StepRecord] = {}
        self._snapshots: dict[str, dict[int, Snapshot]] = {}
        self._outbox: dict[int, tuple[StoredOutboxMessage, datetime | None]] = {}
        self._outbox_ids = itertools.count(1)
        self._timers: dict[TimerKey, tuple[Timer, datetime | None]] = {}
        self._processed: dict[str, str | None] = {}
        self._logs: list[StoredLogLine] = []
        self._log_ids = itertools.count(1)
        self._followers: dict[str, int] = {}
        self._following: set[str] = set()

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
        self._validate(batch)
        now = _now()
        last = {a.run_id: a.expected_seq + len(a.events) for a in batch.appends}
        for record in batch.runs:
            if record.run_id in last:
                record = replace(record, last_seq=last[record.run_id])  # noqa: PLW2901
            self._upsert_run(record, now)
        for s in batch.steps:
            self._steps[s.run_id, s.node_id] = replace(
                s, error=_copy(s.error), output=_copy(s.output)
            )
        for snap in batch.snapshots:
            self._snapshots.setdefault(snap.run_id, {})[snap.seq] = replace(
                snap, state=_copy(snap.state)
            )
        for key in batch.cancel_timers:
            self._timers.pop(TimerKey(*key), None)
        self._put_timers(batch.timers)
        for p in batch.processed:
            self._processed.setdefault(p.command_id, p.run_id)
        await self.record_audit(batch.audit)
        claimed = None if batch.outbox_claimed_for is None else now + batch.outbox_claimed_for
        outbox_ids = []
        for m in batch.outbox:
            outbox_id = next(self._outbox_ids)
            stored = StoredOutboxMessage(
                outbox_id, m.topic, m.payload, m.key, tuple(m.headers), now, m.tenant_id
            )
            self._outbox[outbox_id] = (stored, claimed)
            outbox_ids.append(outbox_id)
        for sent in batch.sent_outbox:
            self._outbox.pop(sent.id, None)
        events = {a.run_id: self._append(a, now) for a in batch.appends}
        return CommitResult(events=events, outbox_ids=outbox_ids)

    def _validate(self, batch: CommitBatch) -> None:
        """Every check that could fail, before anything changes: commits are all or nothing."""
        seen: set[str] = set()
        conflicts = []
        for a in batch.appends:
            if a.run_id in seen:
                raise StoreError(f"run {a.run_id} appears twice in one batch")
            seen.add(a.run_id)
            actual = len(self._events.get(a.run_id, ()))
            if actual != a.expected_seq:
                conflicts.append(RunConflict(a.run_id, a.expected_seq, actual))
            for e in a.events:
                _copy(e.data)
        if conflicts:
            raise ConcurrencyConflict(tuple(conflicts))
        keys: dict[tuple[str, str, str], str] = {
            (r.tenant_id, r.workflow_id, r.idempotency_key): r.run_id
            for r in self._runs.values()
            if r.idempotency_key is not None
        }
        for r in batch.runs:
            if r.idempotency_key is None:
                continue
            key = (
                self._runs[r.run_id].tenant_id if r.run_id in self._runs else r.tenant_id,
                r.workflow_id,
                r.idempotency_key,
            )
            owner = keys.setdefault(key, r.run_id)
            if owner != r.run_id:
                raise AlreadyExists(f"idempotency key {r.idempotency_key!r} is used by {owner}")
            _copy([r.input, r.output, r.error])

    def _append(self, a: RunAppend, now: datetime) -> list[StoredEvent]:
        log = self._events.setdefault(a.run_id, [])
        stored = []
        for e in a.events:
            self._last_position = next(self._positions)
            stored.append(
                StoredEvent(
                    a.run_id,
                    len(log) + 1,
                    e.type,
                    _copy(e.data),
                    now,
                    self._last_position,
                    a.tenant_id,
                )
            )
            log.append(stored[-1])
        return [replace(s, data=_copy(s.data)) for s in stored]

    @asynccontextmanager
    async def watch_run_end(self, run_id: str) -> AsyncIterator[asyncio.Event]:
        with self._run_end_waiters.register(run_id) as event:
            yield event

    def _upsert_run(self, record: RunRecord, now: datetime) -> None:
        old = self._runs.get(record.run_id)
        if record.status in TERMINAL_STATUSES and (old is None or old.status != record.status):
            self._run_end_waiters.ended(record.run_id)
        self._runs[record.run_id] = replace(
            record,
            tenant_id=record.tenant_id if old is None else old.tenant_id,
            input=_copy(record.input),
            output=_copy(record.output),
            error=_copy(record.error),
            # the time a run was first recorded with (the gateway's answer) stays
            started_at=(old.started_at if old is not None else None) or record.started_at or now,
            idempotency_key=record.idempotency_key
            or (None if old is None else old.idempotency_key),
            traceparent=record.traceparent or (None if old is None else old.traceparent),
            updated_at=now,
        )

    async def read(
        self,
        run_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        tenant_id: str | None = None,
    ) -> list[StoredEvent]:
        log = self._events.get(run_id, [])
        if tenant_id is not None and log and log[0].tenant_id != tenant_id:
            return []
        events = log[after_seq:]
        return [replace(e, data=_copy(e.data)) for e in events[:limit]]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        events = sorted(
            (e for log in self._events.values() for e in log if e.position > after_position),
            key=lambda e: e.position,
        )
        return [replace(e, data=_copy(e.data)) for e in events[:limit]]

    async def last_position(self) -> int:
        return max((log[-1].position for log in self._events.values() if log), default=0)

    @asynccontextmanager
    async def follow(self, name: str, limit: int = 500) -> AsyncIterator[LogClaim | None]:
        if name in self._following:
            yield None
            return
        self._following.add(name)
        try:
            position = self._followers.setdefault(name, 0)
            claim = LogClaim(
                name,
                position,
                [
                    self._followed(e)
                    for e in await self.read_all(after_position=position, limit=limit)
                ],
            )
            yield claim
            if claim.advanced_to is not None:
                self._followers[name] = max(self._followers[name], claim.advanced_to)
        finally:
            self._following.discard(name)

    def _followed(self, e: StoredEvent) -> FollowedEvent:
        run = self._runs.get(e.run_id)
        return FollowedEvent(e, run.workflow_id if run else "", run.version if run else 0)

    async def follower_position(self, name: str) -> int:
        return self._followers.get(name, 0)

    async def latest_snapshot(self, run_id: str) -> Snapshot | None:
        snapshots = self._snapshots.get(run_id)
        if not snapshots:
            return None
        latest = snapshots[max(snapshots)]
        return replace(latest, state=_copy(latest.state))

    async def is_processed(self, command_ids: Collection[str]) -> set[str]:
        return {c for c in command_ids if c in self._processed}

    # -- run projections -----------------------------------------------------------------

    async def get_run(
        self, run_id: str, *, tenant_id: str | None = None, preview_over: int | None = None
    ) -> RunRecord:
        stored = self._runs.get(run_id)
        if stored is None or tenant_id not in {None, stored.tenant_id}:
            raise NotFound(f"run {run_id} not found")
        found = _copy_run(stored)
        if preview_over is None:
            return found
        return replace(
            found,
            input=previewed(found.input, preview_over),
            output=previewed(found.output, preview_over),
            error=previewed(found.error, preview_over),
        )

    async def find_run_by_idempotency_key(
        self, workflow_id: str, idempotency_key: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> RunRecord | None:
        for r in self._runs.values():
            if (r.tenant_id, r.workflow_id, r.idempotency_key) == (
                tenant_id,
                workflow_id,
                idempotency_key,
            ):
                return _copy_run(r)
        return None

    async def list_runs(
        self, run_filter: RunFilter, *, limit: int = 50, after: RunCursor | None = None
    ) -> RunPage:
        matching = sorted(
            (r for r in self._runs.values() if _matches(r, run_filter, after)),
            key=_run_key,
            reverse=True,
        )
        page = [_copy_run(r) for r in matching[:limit]]
        more = len(matching) > limit
        cursor = RunCursor(*_run_key(page[-1])) if more and page else None
        return RunPage(runs=page, next_cursor=cursor)

    async def get_steps(
        self, run_id: str, *, tenant_id: str | None = None, preview_over: int | None = None
    ) -> list[StepRecord]:
        steps = [
            s
            for (r, _), s in self._steps.items()
            if r == run_id and tenant_id in {None, s.tenant_id}
        ]
        steps.sort(key=lambda s: (s.started_at is None, s.started_at or _now(), s.node_id))
        if preview_over is None:
            return [replace(s, error=_copy(s.error), output=_copy(s.output)) for s in steps]
        return [
            replace(
                s,
                error=previewed(_copy(s.error), preview_over),
                output=previewed(_copy(s.output), preview_over),
            )
            for s in steps
        ]

    # -- outbox, timers, logs ------------------------------------------------------------

    async def claim_outbox(
        self, limit: int, *, lease: timedelta = timedelta(seconds=30)
    ) -> list[StoredOutboxMessage]:
        now = _now()
        claimed: list[StoredOutboxMessage] = []
        for outbox_id in sorted(self._outbox):
            if len(claimed) >= limit:
                break
            message, until = self._outbox[outbox_id]
            if until is None or until <= now:
                self._outbox[outbox_id] = (message, now + lease)
                claimed.append(message)
        return claimed

    async def delete_outbox(self, ids: Collection[int]) -> None:
        for outbox_id in ids:
            self._outbox.pop(outbox_id, None)

    async def schedule_timers(self, timers: Sequence[Timer]) -> None:
        self._put_timers(timers)

    def _put_timers(self, timers: Sequence[Timer]) -> None:
        for t in timers:
            self._timers[t.key] = (replace(t, payload=_copy(t.payload)), None)

    async def claim_due_timers(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        due = sorted(
            (
                t
                for t, until in self._timers.values()
                if t.fire_at <= now and (until is None or until <= now)
            ),
            key=lambda t: (t.fire_at, t.run_id, t.timer_id),
        )[:limit]
        for t in due:
            self._timers[t.key] = (t, now + lease)
        return [replace(t, payload=_copy(t.payload)) for t in due]

    async def complete_timers(self, timers: Collection[TimerKey]) -> None:
        for key in timers:
            self._timers.pop(TimerKey(*key), None)

    async def append_logs(self, lines: Sequence[LogLine]) -> list[StoredLogLine]:
        now = _now()
        stored = [
            StoredLogLine(
                id=next(self._log_ids),
                run_id=line.run_id,
                node_id=line.node_id,
                level=line.level,
                message=line.message,
                attempt=line.attempt,
                ts=line.ts or now,
                tenant_id=line.tenant_id,
            )
            for line in lines
        ]
        self._logs.extend(stored)
        return stored

    async def read_logs(
        self,
        run_id: str,
        *,
        node_id: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        tenant_id: str | None = None,
    ) -> list[StoredLogLine]:
        lines = [
            line
            for line in self._logs
            if line.id > after_id
            and line.run_id == run_id
            and tenant_id in {None, line.tenant_id}
            and (node_id is None or line.node_id == node_id)
        ]
        return lines[:limit]

    # -- backlogs and run traces -----------------------------------------------------------

    async def run_traceparents(self, run_ids: Collection[str]) -> dict[str, str]:
        return {
            run_id: record.traceparent
            for run_id in run_ids
            if (record := self._runs.get(run_id)) is not None and record.traceparent
        }

    async def backlog(self, *, now: datetime, idle_after: timedelta) -> Backlog:
        created = [message.created_at for message, _ in self._outbox.values()]
        active = dict.fromkeys(ACTIVE_RUN_STATUSES, 0)
        idle = dict.fromkeys(ACTIVE_RUN_STATUSES, 0)
        for record in self._runs.values():
            if record.status in active:
                active[record.status] += 1
                changed = record.updated_at or record.started_at
                if changed is not None and changed < now - idle_after:
                    idle[record.status] += 1
        return Backlog(
            outbox_messages=len(created),
            outbox_oldest_seconds=max(0.0, (now - min(created)).total_seconds()) if created else 0,
            timers_pending=len(self._timers),
            timers_overdue=sum(1 for timer, _ in self._timers.values() if timer.fire_at < now),
            runs_active=active,
            runs_idle=idle,
        )

    # -- retention -----------------------------------------------------------------------

    async def purge_runs_older_than(
        self,
        cutoff: datetime,
        batch_size: int = 500,  # noqa: ARG002 - memory has no transactions to keep short
    ) -> int:
        doomed = {
            r.run_id for r in self._runs.values() if r.ended_at is not None and r.ended_at < cutoff
        }
        for run_id in doomed:
            del self._runs[run_id]
            self._events.pop(run_id, None)
            self._snapshots.pop(run_id, None)
        self._steps = {k: v for k, v in self._steps.items() if k[0] not in doomed}
        self._timers = {k: v for k, v in self._timers.items() if v[0].run_id not in doomed}
        self._processed = {k: v for k, v in self._processed.items() if v not in doomed}
        self._logs = [line for line in self._logs if line.run_id not in doomed]
        self._forget_command_keys(doomed)
        return len(doomed)


def _copy_run(r: RunRecord) -> RunRecord:
    return replace(r, input=_copy(r.input), output=_copy(r.output), error=_copy(r.error))


def _run_key(r: RunRecord) -> tuple[datetime, str]:
    if r.started_at is None:  # pragma: no cover - set on every upsert
        raise StoreError(f"run {r.run_id} has no start time")
    return (r.started_at, r.run_id)


def _matches(r: RunRecord, f: RunFilter, after: RunCursor | None) -> bool:
    checks: list[Any] = [
        f.tenant_id is None or r.tenant_id == f.tenant_id,
        f.workflow_id is None or r.workflow_id == f.workflow_id,
        f.statuses is None or r.status in f.statuses,
        f.started_after is None or _run_key(r)[0] >= f.started_after,
        f.started_before is None or _run_key(r)[0] < f.started_before,
        f.parent_run_id is None or r.parent_run_id == f.parent_run_id,
        after is None or _run_key(r) < (after.started_at, after.run_id),
    ]
    return all(checks)
