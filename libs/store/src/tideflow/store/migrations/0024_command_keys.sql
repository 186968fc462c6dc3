-- What a client's idempotency key on a run command (today: a signal) was first used for.
-- The gateway claims the key before it sends the command: a repeat with the same data is
-- the same command (not sent again once it was), a repeat with other data is refused
-- (409 IDEMPOTENCY_CONFLICT) instead of being accepted and silently dropped by the
-- scheduler's dedup. Only a digest of the data is kept. Rows go with their run (retention).
CREATE TABLE command_keys (
    command_id text        PRIMARY KEY,
    tenant_id  text        NOT NULL,
    run_id     text        NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    digest     text        NOT NULL,
    sent       boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX command_keys_by_run ON command_keys (run_id);

ALTER TABLE command_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON command_keys TO tideflow_app
    USING (tideflow_tenant_visible(tenant_id)) WITH CHECK (tideflow_tenant_visible(tenant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON command_keys TO tideflow_app;
