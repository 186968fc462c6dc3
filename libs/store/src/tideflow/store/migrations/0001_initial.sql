-- Tideflow event log, projections, outbox and timers.
--
-- Every table carries tenant_id from the start so that row-level security can be switched
-- on later without a data migration. run ids are text (the scheduler mints them; uuids fit).

-- The application role. Services connect as a LOGIN role that is a member of tideflow_app;
-- the migration owner keeps UPDATE/DELETE on the event log for the maintenance path only.
-- Roles are cluster-wide while the migration lock is per database, so two databases being
-- migrated at once may race here: the duplicate is harmless and swallowed.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tideflow_app') THEN
        CREATE ROLE tideflow_app NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- Workflow definitions: one mutable draft per workflow, and immutable published versions.
CREATE TABLE workflows (
    tenant_id   text        NOT NULL DEFAULT 'default',
    workflow_id text        NOT NULL,
    name        text        NOT NULL,
    draft       jsonb       NOT NULL,
    revision    integer     NOT NULL DEFAULT 1,
    archived    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow_id)
);

CREATE TABLE workflow_versions (
    tenant_id      text        NOT NULL DEFAULT 'default',
    workflow_id    text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    definition     jsonb       NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now(),
    published_by   text,
    source_version integer,
    PRIMARY KEY (tenant_id, workflow_id, version),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, workflow_id)
);

-- Runs projection, written in the same transaction as the events it derives from.
CREATE TABLE runs (
    run_id          text        PRIMARY KEY,
    tenant_id       text        NOT NULL DEFAULT 'default',
    workflow_id     text        NOT NULL,
    version         integer     NOT NULL,
    status          text        NOT NULL,
    input           jsonb,
    output          jsonb,
    error           jsonb,
    parent_run_id   text,
    replay_of       text,
    idempotency_key text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seq        bigint      NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (tenant_id, workflow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Keyset pagination of run lists: newest first, per tenant, optionally per workflow/status.
CREATE INDEX runs_by_start ON runs (tenant_id, started_at DESC, run_id DESC);
CREATE INDEX runs_by_workflow ON runs (tenant_id, workflow_id, started_at DESC, run_id DESC);
CREATE INDEX runs_by_status ON runs (tenant_id, status, started_at DESC, run_id DESC);
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
-- Retention scans finished runs by end time.
CREATE INDEX runs_by_end ON runs (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE run_steps (
    run_id     text        NOT NULL,
    node_id    text        NOT NULL,
    tenant_id  text        NOT NULL DEFAULT 'default',
    status     text        NOT NULL,
    attempt    integer     NOT NULL DEFAULT 1,
    started_at timestamptz,
    ended_at   timestamptz,
    error      jsonb,
    output     jsonb,
    PRIMARY KEY (run_id, node_id)
);

-- The event log. Append-only; see the triggers and grants below.
CREATE TABLE run_events (
    run_id      text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    tenant_id   text        NOT NULL DEFAULT 'default',
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- Global order for followers. Assigned from run_events_position while the appending
    -- transaction holds the event-log advisory lock, so positions become visible in
    -- commit order (see the store's append path for the reasoning).
    position    bigserial   NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE UNIQUE INDEX run_events_position ON run_events (position);

CREATE TABLE run_snapshots (
    run_id      text        NOT NULL,
    seq         bigint      NOT NULL,
    tenant_id   text        NOT NULL DEFAULT 'default',
    state       jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

-- Transactional outbox: Kafka messages written with the events that cause them.
CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    tenant_id     text        NOT NULL DEFAULT 'default',
    topic         text        NOT NULL,
    key           bytea,
    payload       bytea       NOT NULL,
    header_keys   text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz
);

-- Durable timers (retry backoff, delays, timeouts), shared by scheduler replicas.
CREATE TABLE timers (
    timer_id      text        PRIMARY KEY,
    tenant_id     text        NOT NULL DEFAULT 'default',
    run_id        text        NOT NULL,
    fire_at       timestamptz NOT NULL,
    kind          text        NOT NULL,
    payload       jsonb       NOT NULL DEFAULT '{}',
    claimed_until timestamptz
);
CREATE INDEX timers_due ON timers (fire_at);
CREATE INDEX timers_by_run ON timers (run_id);

-- Idempotency records: a command id seen here has had its effects committed.
CREATE TABLE processed_commands (
    command_id   text        PRIMARY KEY,
    tenant_id    text        NOT NULL DEFAULT 'default',
    run_id       text,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_commands_by_run ON processed_commands (run_id);

CREATE TABLE run_logs (
    id        bigserial   PRIMARY KEY,
    tenant_id text        NOT NULL DEFAULT 'default',
    run_id    text        NOT NULL,
    node_id   text        NOT NULL,
    attempt   integer     NOT NULL DEFAULT 1,
    ts        timestamptz NOT NULL DEFAULT now(),
    level     text        NOT NULL,
    message   text        NOT NULL
);
CREATE INDEX run_logs_by_run ON run_logs (run_id, id);

-- Append-only enforcement. Only the maintenance path (retention, run by the owner through
-- tideflow_purge_runs) may delete, and it says so with a transaction-local setting. The
-- application role cannot reach this point for UPDATE/DELETE at all: it lacks the grant.
CREATE FUNCTION tideflow_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tideflow.maintenance', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'TF001';
END
$$;

CREATE TRIGGER run_events_append_only
    BEFORE UPDATE OR DELETE ON run_events
    FOR EACH ROW EXECUTE FUNCTION tideflow_refuse_change();
CREATE TRIGGER run_events_no_truncate
    BEFORE TRUNCATE ON run_events
    FOR EACH STATEMENT EXECUTE FUNCTION tideflow_refuse_change();
CREATE TRIGGER workflow_versions_immutable
    BEFORE UPDATE OR DELETE ON workflow_versions
    FOR EACH ROW EXECUTE FUNCTION tideflow_refuse_change();
CREATE TRIGGER workflow_versions_no_truncate
    BEFORE TRUNCATE ON workflow_versions
    FOR EACH STATEMENT EXECUTE FUNCTION tideflow_refuse_change();

-- Retention: delete up to batch_size finished runs that ended before cutoff, with all
-- their rows. SECURITY DEFINER so the application role may call it without holding DELETE
-- on the event log; each call is one short transaction, and callers loop until it
-- returns 0, which keeps the purge off the hot path and its locks brief.
CREATE FUNCTION tideflow_purge_runs(cutoff timestamptz, batch_size integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    doomed text[];
BEGIN
    SELECT coalesce(array_agg(run_id), '{}') INTO doomed FROM (
        SELECT run_id FROM runs
        WHERE ended_at IS NOT NULL AND ended_at < cutoff
        ORDER BY ended_at
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    ) AS picked;
    IF cardinality(doomed) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM set_config('tideflow.maintenance', 'on', true);
    DELETE FROM run_events WHERE run_id = ANY (doomed);
    PERFORM set_config('tideflow.maintenance', 'off', true);
    DELETE FROM run_snapshots WHERE run_id = ANY (doomed);
    DELETE FROM run_steps WHERE run_id = ANY (doomed);
    DELETE FROM run_logs WHERE run_id = ANY (doomed);
    DELETE FROM timers WHERE run_id = ANY (doomed);
    DELETE FROM processed_commands WHERE run_id = ANY (doomed);
    DELETE FROM runs WHERE run_id = ANY (doomed);
    RETURN cardinality(doomed);
END
$$;

REVOKE ALL ON FUNCTION tideflow_purge_runs(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tideflow_purge_runs(timestamptz, integer) TO tideflow_app;

GRANT SELECT, INSERT ON run_events, workflow_versions TO tideflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    workflows, runs, run_steps, run_snapshots, outbox, timers, processed_commands, run_logs
    TO tideflow_app;
GRANT USAGE ON SEQUENCE run_events_position_seq, outbox_id_seq, run_logs_id_seq TO tideflow_app;
