-- Event-trigger starts over their tenant's run-start limit (docs/api.md, Rate limits).
-- The run is recorded when its message is read (its idempotency key is taken, so a
-- redelivery finds it), but its StartRun waits here instead of in the outbox until the
-- trigger service takes a token of the tenant's bucket for it; then one transaction moves
-- it to the outbox. The message's offset is committed meanwhile, so one throttled tenant
-- never holds back other tenants' messages on a shared topic. `claimed_until` is a
-- replica's claim, or how long the tenant's bucket said to wait.
CREATE TABLE trigger_deferred_starts (
    id            bigserial   PRIMARY KEY,
    tenant_id     text        NOT NULL,
    run_id        text        NOT NULL,
    topic         text        NOT NULL,
    key           bytea,
    payload       bytea       NOT NULL,
    header_keys   text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz
);
CREATE INDEX trigger_deferred_starts_by_tenant ON trigger_deferred_starts (tenant_id, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON trigger_deferred_starts TO tideflow_app;
GRANT USAGE ON SEQUENCE trigger_deferred_starts_id_seq TO tideflow_app;

-- Row-level security, as for every table of tenant data (migration 0004's predicate).
ALTER TABLE trigger_deferred_starts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON trigger_deferred_starts TO tideflow_app
    USING (tideflow_tenant_visible(tenant_id))
    WITH CHECK (tideflow_tenant_visible(tenant_id));
