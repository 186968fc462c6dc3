"""SQL statements of the Postgres store, kept apart from the code that sequences them."""

# The f-strings below only splice in the fixed column lists of this module; every value
# travels as a parameter.
# ruff: noqa: S608

from __future__ import annotations

# Key of the transaction-level advisory lock that orders appends to the event log.
LOG_LOCK_KEY = 7_351_204_118_552_602

EVENT_COLUMNS = "run_id, seq, type, data, recorded_at, position, tenant_id"

# Taken in the simple-query `BEGIN` of a transaction that appends (held until its end).
LOCK_LOG = f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})"


READ_RUN = f"""
SELECT {EVENT_COLUMNS} FROM run_events
WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
"""

READ_RUNS = f"""
SELECT {EVENT_COLUMNS} FROM run_events
WHERE run_id = ANY($1::text[]) ORDER BY run_id, seq
"""

READ_ALL = f"""
SELECT {EVENT_COLUMNS} FROM run_events
WHERE position > $1 ORDER BY position LIMIT $2
"""

LAST_POSITION = "SELECT coalesce(max(position), 0) FROM run_events"

RUN_COLUMNS = """run_id, tenant_id, workflow_id, version, status, input, output, error,
    parent_run_id, replay_of, idempotency_key, started_at, ended_at, updated_at, last_seq"""


GET_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1"


def _previewed(column: str, alias: str) -> tuple[str, str]:
    """(select expression, lateral join) for `column`, or a `$truncated` marker when its
    JSON text is longer than $2 bytes: cut in the database, so an answer about a run never
    loads a huge value. Only values whose stored (compressed) size passes $2 / 16 are
    written out as text to be measured, once."""
    text = f"{alias}_t"
    lateral = (
        f"LEFT JOIN LATERAL (SELECT octet_length(v) AS bytes, left(v, 512) AS preview FROM "
        f"(SELECT {column}::text AS v WHERE pg_column_size({column}) > $2 / 16) AS {text}_v) "
        f"AS {text} ON true"
    )
    select = (
        f"CASE WHEN {text}.bytes > $2 THEN jsonb_build_object('$truncated', jsonb_build_object("
        f"'bytes', {text}.bytes, 'preview', {text}.preview)) ELSE {column} END AS "
        f"{column.rsplit('.', 1)[-1]}"
    )
    return select, lateral


def _previewed_query(table: str, columns: list[str], cut: list[str], where: str) -> str:
    parts = {c: _previewed(f"r.{c}", c) for c in cut}
    select = ", ".join(parts[c][0] if c in parts else f"r.{c}" for c in columns)
    laterals = " ".join(parts[c][1] for c in cut)
    return f"SELECT {select} FROM {table} r {laterals} WHERE {where}"


GET_RUN_PREVIEWED = _previewed_query(
    "runs",
    [c.strip() for c in RUN_COLUMNS.split(",")],
    ["input", "output", "error"],
    "r.run_id = $1",
)
RUN_BY_KEY = f"""
SELECT {RUN_COLUMNS} FROM runs
WHERE tenant_id = $1 AND workflow_id = $2 AND idempotency_key = $3
"""


GET_STEPS = """
SELECT run_id, node_id, tenant_id, status, attempt, started_at, ended_at, error, output,
       child_run_id
FROM run_steps WHERE run_id = $1 ORDER BY started_at NULLS LAST, node_id
"""

GET_STEPS_PREVIEWED = _previewed_query(
    "run_steps",
    [
        "run_id", "node_id", "tenant_id", "status", "attempt", "started_at", "ended_at",
        "error", "output", "child_run_id",
    ],
    ["error", "output"],
    "r.run_id = $1 ORDER BY r.started_at NULLS LAST, r.node_id",
)  # fmt: skip


# Runs as the scheduler loads them, in one statement (one snapshot of the database):
# each run's latest snapshot (kind 's', its state in `data`) and the events after it
# (kind 'e'), a run's snapshot before its events.
LOAD_RUNS = """
WITH wanted AS (SELECT * FROM unnest($1::text[]) AS w(run_id)),
latest AS (
    SELECT DISTINCT ON (s.run_id) s.run_id, s.seq, s.tenant_id, s.state
    FROM run_snapshots s JOIN wanted USING (run_id) ORDER BY s.run_id, s.seq DESC
)
SELECT 's' AS kind, run_id, seq, tenant_id, state AS data, NULL::text AS type,
       NULL::timestamptz AS recorded_at, NULL::bigint AS position
FROM latest
UNION ALL
SELECT 'e', e.run_id, e.seq, e.tenant_id, e.data, e.type, e.recorded_at, e.position
FROM run_events e JOIN wanted USING (run_id) LEFT JOIN latest l USING (run_id)
WHERE e.seq > coalesce(l.seq, 0)
ORDER BY run_id, kind DESC, seq
"""

LATEST_SNAPSHOT = """
SELECT run_id, seq, tenant_id, state FROM run_snapshots
WHERE run_id = $1 ORDER BY seq DESC LIMIT 1
"""

INSERT_OUTBOX = """
INSERT INTO outbox (tenant_id, topic, key, payload, header_keys, header_values,
                    claimed_until)
VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)
RETURNING id
"""

CLAIM_OUTBOX = """
UPDATE outbox SET claimed_until = now() + $2::interval
WHERE id IN (
    SELECT id FROM outbox
    WHERE claimed_until IS NULL OR claimed_until <= now()
    ORDER BY id LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, tenant_id, topic, key, payload, header_keys, header_values, created_at
"""

DELETE_OUTBOX = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"

UPSERT_TIMERS = """
INSERT INTO timers (timer_id, tenant_id, run_id, fire_at, kind, payload, claimed_until)
SELECT u.*, NULL FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                             $5::text[], $6::jsonb[])
    AS u(timer_id, tenant_id, run_id, fire_at, kind, payload)
ON CONFLICT (run_id, timer_id) DO UPDATE SET
    fire_at = EXCLUDED.fire_at,
    kind = EXCLUDED.kind,
    payload = EXCLUDED.payload,
    claimed_until = NULL
"""

# Timer ids are unique within a run only: every delete names (run_id, timer_id) pairs.
DELETE_TIMERS = """
DELETE FROM timers AS t
USING unnest($1::text[], $2::text[]) AS k(run_id, timer_id)
WHERE t.run_id = k.run_id AND t.timer_id = k.timer_id
"""

CLAIM_TIMERS = """
UPDATE timers SET claimed_until = $1 + $3::interval
WHERE (run_id, timer_id) IN (
    SELECT run_id, timer_id FROM timers
    WHERE fire_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
    ORDER BY fire_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING timer_id, tenant_id, run_id, fire_at, kind, payload
"""


PROCESSED = "SELECT command_id FROM processed_commands WHERE command_id = ANY($1::text[])"

INSERT_LOGS = """
INSERT INTO run_logs (run_id, node_id, level, message, attempt, ts, tenant_id)
SELECT r.run_id, r.node_id, r.level, r.message, r.attempt, coalesce(r.ts, now()), r.tenant_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[],
            $7::text[])
    AS r(run_id, node_id, level, message, attempt, ts, tenant_id)
RETURNING id, run_id, node_id, level, message, attempt, ts, tenant_id
"""

READ_LOGS = """
SELECT id, run_id, node_id, level, message, attempt, ts, tenant_id FROM run_logs
WHERE run_id = $1 AND id > $2 AND ($3::text IS NULL OR node_id = $3)
ORDER BY id LIMIT $4
"""

PURGE = "SELECT tideflow_purge_runs($1, $2)"

WORKFLOW_COLUMNS = "workflow_id, tenant_id, name, draft, revision, archived, created_at, updated_at"
VERSION_COLUMNS = (
    "workflow_id, tenant_id, version, definition, published_at, published_by, source_version"
)

INSERT_WORKFLOW = f"""
INSERT INTO workflows (tenant_id, workflow_id, name, draft) VALUES ($1, $2, $3, $4)
RETURNING {WORKFLOW_COLUMNS}
"""

GET_WORKFLOW = f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 AND workflow_id = $2"

LOCK_WORKFLOW = GET_WORKFLOW + " FOR UPDATE"

LIST_WORKFLOWS = f"""
SELECT {WORKFLOW_COLUMNS} FROM workflows
WHERE tenant_id = $1 AND ($2 OR NOT archived) ORDER BY workflow_id
"""

# A save that would change nothing (the same text as written, the same name) matches no
# row and so keeps the revision: re-applying a file is idempotent (`kubectl apply`).
UPDATE_DRAFT = f"""
UPDATE workflows SET draft = $3, name = coalesce($4, name), revision = revision + 1,
                     updated_at = now()
WHERE tenant_id = $1 AND workflow_id = $2 AND NOT archived
  AND ($5::int IS NULL OR revision = $5)
  AND (draft::text IS DISTINCT FROM $3::json::text OR name IS DISTINCT FROM coalesce($4, name))
RETURNING {WORKFLOW_COLUMNS}
"""

SET_DRAFT = """
UPDATE workflows SET draft = $3, revision = revision + 1, updated_at = now()
WHERE tenant_id = $1 AND workflow_id = $2
"""

SET_ARCHIVED = f"""
UPDATE workflows SET archived = $3, updated_at = now()
WHERE tenant_id = $1 AND workflow_id = $2
RETURNING {WORKFLOW_COLUMNS}
"""

INSERT_VERSION = f"""
INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, published_by,
                               source_version)
SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5
FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2
RETURNING {VERSION_COLUMNS}
"""

GET_VERSION = f"""
SELECT {VERSION_COLUMNS} FROM workflow_versions
WHERE tenant_id = $1 AND workflow_id = $2 AND ($3::int IS NULL OR version = $3)
ORDER BY version DESC LIMIT 1
"""

LIST_VERSIONS = f"""
SELECT {VERSION_COLUMNS} FROM workflow_versions
WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY version
"""

# A follower's batch: lock its row (skipping it when another session holds it) and read the
# events after its position with their run's workflow. No row: missing or held elsewhere;
# one row with a NULL run_id: held by us, nothing new.
FOLLOW = """
WITH follower AS (
    SELECT position FROM event_publisher_positions WHERE name = $1 FOR UPDATE SKIP LOCKED
)
SELECT f.position AS follower_position, e.run_id, e.seq, e.type, e.data, e.recorded_at,
       e.position, e.tenant_id, r.workflow_id, r.version
FROM follower f
LEFT JOIN LATERAL (
    SELECT * FROM run_events WHERE position > f.position ORDER BY position LIMIT $2
) e ON true
LEFT JOIN runs r ON r.run_id = e.run_id
ORDER BY e.position
"""

ADD_FOLLOWER = """
INSERT INTO event_publisher_positions (name) VALUES ($1)
ON CONFLICT (name) DO NOTHING
"""

ADVANCE_FOLLOWER = """
UPDATE event_publisher_positions SET position = greatest(position, $2), updated_at = now()
WHERE name = $1
"""

FOLLOWER_POSITION = "SELECT position FROM event_publisher_positions WHERE name = $1"
