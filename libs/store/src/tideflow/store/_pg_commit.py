"""A commit batch as one statement: every table written by data-modifying CTEs.

A scheduler batch writes up to nine kinds of rows (projections, steps, snapshots, timers
set and cancelled, processed commands, audit entries, outbox messages, events) and
deletes the outbox rows of earlier batches that went out. Sent as
one `executemany` per kind, a batch cost ten round trips and one server-side execution
per row; a batch of one run (every W3 step, every start) spent more time in round trips
than in Postgres. Here each kind present is one `INSERT ... SELECT FROM unnest(...)` CTE
of a single statement, with the optimistic check of the runs' last seqs in the same
statement: the events are inserted only when every run is where its writer expected it
(otherwise nothing is, and the caller rolls the transaction back).

Sub-statements of one statement must not touch the same row twice (Postgres gives no
order between them), so the rows are made unique first with the semantics a sequence of
single-row upserts had: the last record of a run, step, snapshot or timer wins, and a
timer both cancelled and set in the batch is set.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tideflow.store import _pg_sql as sql
from tideflow.store._codecs import json_text
from tideflow.store._pg_identity import INSERT_AUDIT, audit_columns

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence

    from tideflow.store._records import (
        CommitBatch,
        OutboxMessage,
        RunAppend,
        RunRecord,
        StepRecord,
        Timer,
        TimerKey,
    )

_PARAMETER = re.compile(r"\$(\d+)")

# Every statement takes its rows as parallel arrays; `$n` are numbered per statement and
# shifted when the statements are put together. Values that may be JSON arrays travel as
# JSON text (`text[]::jsonb[]`): in a `jsonb[]` parameter the driver would take a list
# for one more dimension of the array.
_RUNS = """
INSERT INTO runs (run_id, tenant_id, workflow_id, version, status, input, output, error,
                  parent_run_id, replay_of, idempotency_key, started_at, ended_at, updated_at,
                  last_seq, traceparent)
SELECT u.run_id, u.tenant_id, u.workflow_id, u.version, u.status, u.input, u.output,
       u.error, u.parent_run_id, u.replay_of, u.idempotency_key,
       coalesce(u.started_at, now()), u.ended_at, now(), u.last_seq, u.traceparent
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[]::jsonb[],
            $7::text[]::jsonb[], $8::text[]::jsonb[], $9::text[], $10::text[], $11::text[],
            $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::text[])
    AS u(run_id, tenant_id, workflow_id, version, status, input, output, error,
         parent_run_id, replay_of, idempotency_key, started_at, ended_at, last_seq,
         traceparent)
ON CONFLICT (run_id) DO UPDATE SET
    workflow_id = EXCLUDED.workflow_id,
    version = EXCLUDED.version,
    status = EXCLUDED.status,
    input = EXCLUDED.input,
    output = EXCLUDED.output,
    error = EXCLUDED.error,
    parent_run_id = EXCLUDED.parent_run_id,
    replay_of = EXCLUDED.replay_of,
    idempotency_key = coalesce(EXCLUDED.idempotency_key, runs.idempotency_key),
    started_at = coalesce(runs.started_at, EXCLUDED.started_at),
    ended_at = EXCLUDED.ended_at,
    updated_at = now(),
    last_seq = EXCLUDED.last_seq,
    traceparent = coalesce(EXCLUDED.traceparent, runs.traceparent)
"""

_STEPS = """
INSERT INTO run_steps (run_id, node_id, tenant_id, status, attempt, started_at, ended_at,
                       error, output, child_run_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                     $6::timestamptz[], $7::timestamptz[], $8::text[]::jsonb[],
                     $9::text[]::jsonb[],
                     $10::text[])
ON CONFLICT (run_id, node_id) DO UPDATE SET
    status = EXCLUDED.status,
    attempt = EXCLUDED.attempt,
    started_at = EXCLUDED.started_at,
    ended_at = EXCLUDED.ended_at,
    error = EXCLUDED.error,
    output = EXCLUDED.output,
    child_run_id = EXCLUDED.child_run_id
"""

_SNAPSHOTS = """
INSERT INTO run_snapshots (run_id, seq, tenant_id, state)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[])
ON CONFLICT (run_id, seq) DO UPDATE SET state = EXCLUDED.state
"""


_PROCESSED = """
INSERT INTO processed_commands (command_id, tenant_id, run_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT (command_id) DO NOTHING
"""

# Ids are drawn in the order the rows are produced (`ORDER BY n`): the order given.
_OUTBOX = """
INSERT INTO outbox (tenant_id, topic, key, payload, header_keys, header_values,
                    claimed_until)
SELECT u.tenant_id, u.topic, u.key, u.payload,
       ARRAY(SELECT h.value ->> 0 FROM jsonb_array_elements(u.headers) WITH ORDINALITY
             AS h(value, i) ORDER BY h.i),
       ARRAY(SELECT decode(h.value ->> 1, 'base64') FROM jsonb_array_elements(u.headers)
             WITH ORDINALITY AS h(value, i) ORDER BY h.i),
       now() + $6::interval
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]::jsonb[])
    WITH ORDINALITY AS u(tenant_id, topic, key, payload, headers, n)
ORDER BY u.n
RETURNING id
"""

# The runs' last seqs as this statement sees them (the caller holds the event-log lock,
# so no other append can commit meanwhile).
_LAST_SEQS = """
SELECT w.run_id, w.expected,
       coalesce((SELECT max(e.seq) FROM run_events e WHERE e.run_id = w.run_id), 0) AS last_seq
FROM unnest($1::text[], $2::bigint[]) AS w(run_id, expected)
"""

_EVENTS = """
INSERT INTO run_events (run_id, seq, tenant_id, type, data)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[])
WHERE NOT EXISTS (SELECT 1 FROM last_seqs WHERE last_seq <> expected)
RETURNING run_id, seq, recorded_at, position
"""

# (CTE, what the statement returns of it)
_RESULTS = (
    ("outbox_rows", "(SELECT array_agg(id ORDER BY id) FROM outbox_rows) AS outbox_ids"),
    (
        "last_seqs",
        (
            "(SELECT array_agg(run_id ORDER BY run_id) FROM last_seqs) AS checked_runs, "
            "(SELECT array_agg(last_seq ORDER BY run_id) FROM last_seqs) AS last_seqs"
        ),
    ),
    (
        "appended",
        (
            "(SELECT array_agg(seq ORDER BY position) FROM appended) AS event_seqs, "
            "(SELECT array_agg(run_id ORDER BY position) FROM appended) AS event_runs, "
            "(SELECT array_agg(position ORDER BY position) FROM appended) AS event_positions, "
            "(SELECT min(recorded_at) FROM appended) AS recorded_at"
        ),
    ),
)


@dataclass
class CommitStatement:
    """The statement of one batch and its arguments; `appends` says whether it needs the
    event-log lock (taken before it, held until the commit)."""

    sql: str
    args: list[Any] = field(default_factory=list)
    appends: bool = False


Part = tuple[str, str, list[Any]]
"""(CTE name, statement, its arguments)."""


def commit_statement(batch: CommitBatch, runs: Sequence[RunRecord]) -> CommitStatement | None:
    """The one statement writing `batch` (its runs replaced by `runs`, the projection rows
    with their last seqs); None when there is nothing to write."""
    parts = [*_projections(batch, runs), *_timers(batch), *_records(batch), *_log(batch)]
    if not parts:
        return None
    return _together(parts, appends=bool(batch.appends))


def _projections(batch: CommitBatch, runs: Sequence[RunRecord]) -> list[Part]:
    parts: list[Part] = []
    if runs:
        parts.append(("runs_rows", _RUNS, _run_columns(_last_run_wins(runs))))
    if batch.steps:
        parts.append(("steps_rows", _STEPS, _step_columns(_last_step_wins(batch.steps))))
    if batch.snapshots:
        snapshots = {(s.run_id, s.seq): s for s in batch.snapshots}.values()
        parts.append(("snapshot_rows", _SNAPSHOTS, [
            [s.run_id for s in snapshots], [s.seq for s in snapshots],
            [s.tenant_id for s in snapshots], [s.state for s in snapshots],
        ]))  # fmt: skip
    return parts


def _timers(batch: CommitBatch) -> list[Part]:
    """A timer set again in the batch is not also deleted (one row, one sub-statement)."""
    parts: list[Part] = []
    timers = latest_timers(batch.timers)
    cancelled = [k for k in dict.fromkeys(batch.cancel_timers) if k not in timers]
    if cancelled:
        parts.append(("cancelled_timers", sql.DELETE_TIMERS, [
            [k.run_id for k in cancelled], [k.timer_id for k in cancelled],
        ]))  # fmt: skip
    if timers:
        parts.append(("timer_rows", sql.UPSERT_TIMERS, timer_columns(timers.values())))
    return parts


def _records(batch: CommitBatch) -> list[Part]:
    parts: list[Part] = []
    if batch.processed:
        parts.append(("processed_rows", _PROCESSED, [
            [p.command_id for p in batch.processed], [p.tenant_id for p in batch.processed],
            [p.run_id for p in batch.processed],
        ]))  # fmt: skip
    if batch.audit:
        parts.append(("audit_rows", INSERT_AUDIT, audit_columns(batch.audit)))
    if batch.outbox:
        columns = _outbox_columns(batch.outbox, batch.outbox_claimed_for)
        parts.append(("outbox_rows", _OUTBOX, columns))
    if batch.sent_outbox:
        sent = list(dict.fromkeys(row.id for row in batch.sent_outbox))
        parts.append(("sent_outbox", sql.DELETE_OUTBOX, [sent]))
    return parts


def _log(batch: CommitBatch) -> list[Part]:
    if not batch.appends:
        return []
    parts: list[Part] = [("last_seqs", _LAST_SEQS, [
        [a.run_id for a in batch.appends], [a.expected_seq for a in batch.appends],
    ])]  # fmt: skip
    if any(a.events for a in batch.appends):
        parts.append(("appended", _EVENTS, _event_columns(batch.appends)))
    return parts


def _together(parts: list[Part], *, appends: bool) -> CommitStatement:
    args: list[Any] = []
    for _, _, values in parts:
        args.extend(values)
    shape = tuple((name, sql, len(values)) for name, sql, values in parts)
    return CommitStatement(_statement(shape), args, appends)


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple[tuple[str, str, int], ...]) -> str:
    """The text for parts of this shape (CTE name, statement, argument count), built once:
    a scheduler writes batches of a handful of shapes."""
    names = {name for name, _, _ in shape}
    results = [result for cte, result in _RESULTS if cte in names]
    ctes = []
    count = 0
    for name, statement, arguments in shape:
        ctes.append(f"{name} AS ({_shifted(statement, count).strip()})")
        count += arguments
    select = ", ".join(results) or "1"
    return f"WITH {', '.join(ctes)} SELECT {select}"


def _shifted(sql: str, by: int) -> str:
    return _PARAMETER.sub(lambda m: f"${int(m[1]) + by}", sql)


def _last_run_wins(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per run: the last, keeping what `coalesce` kept from earlier ones (the
    first start time among them)."""
    merged: dict[str, RunRecord] = {}
    for record in runs:
        old = merged.get(record.run_id)
        merged[record.run_id] = (
            record
            if old is None
            else replace(
                record,
                idempotency_key=record.idempotency_key or old.idempotency_key,
                traceparent=record.traceparent or old.traceparent,
                started_at=old.started_at or record.started_at,
            )
        )
    return list(merged.values())


def _last_step_wins(steps: Sequence[StepRecord]) -> list[StepRecord]:
    return list({(s.run_id, s.node_id): s for s in steps}.values())


_JSON_RUN_COLUMNS = frozenset({"input", "output", "error"})


def _run_columns(runs: list[RunRecord]) -> list[list[Any]]:
    names = ("run_id", "tenant_id", "workflow_id", "version", "status", "input", "output",
             "error", "parent_run_id", "replay_of", "idempotency_key", "started_at",
             "ended_at", "last_seq", "traceparent")  # fmt: skip
    return [
        [json_text(getattr(r, name)) for r in runs]
        if name in _JSON_RUN_COLUMNS
        else [getattr(r, name) for r in runs]
        for name in names
    ]


def _step_columns(steps: list[StepRecord]) -> list[list[Any]]:
    return [
        [s.run_id for s in steps],
        [s.node_id for s in steps],
        [s.tenant_id for s in steps],
        [s.status for s in steps],
        [s.attempt for s in steps],
        [s.started_at for s in steps],
        [s.ended_at for s in steps],
        [json_text(s.error) for s in steps],
        [json_text(s.output) for s in steps],
        [s.child_run_id for s in steps],
    ]


def latest_timers(timers: Iterable[Timer]) -> dict[TimerKey, Timer]:
    """One timer per key, the last given (one statement may not upsert a row twice)."""
    return {t.key: t for t in timers}


def timer_columns(timers: Collection[Timer]) -> list[list[Any]]:
    """The six parallel arrays `UPSERT_TIMERS` takes."""
    names = ("timer_id", "tenant_id", "run_id", "fire_at", "kind", "payload")
    return [[getattr(t, name) for t in timers] for name in names]


def _outbox_columns(messages: Sequence[OutboxMessage], claimed_for: Any) -> list[Any]:
    return [
        [m.tenant_id for m in messages],
        [m.topic for m in messages],
        [m.key for m in messages],
        [m.payload for m in messages],
        [_headers_json(m.headers) for m in messages],
        claimed_for,
    ]


def _headers_json(headers: tuple[tuple[str, bytes], ...]) -> str:
    """Headers as `[[key, base64 value], ...]`: arrays of arrays must be rectangular in
    Postgres, so each row's headers travel as one JSON value."""
    return json_text([[k, base64.b64encode(v).decode()] for k, v in headers]) or "[]"


def _event_columns(appends: Sequence[RunAppend]) -> list[list[Any]]:
    flat = [
        (a.run_id, a.expected_seq + offset, a.tenant_id, e.type, e.data)
        for a in appends
        for offset, e in enumerate(a.events, start=1)
    ]
    return [list(column) for column in zip(*flat, strict=True)]
