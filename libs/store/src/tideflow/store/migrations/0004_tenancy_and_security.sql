-- Tenants, credentials, encrypted secrets, the audit log, and row-level security on every
-- table that holds tenant data.
--
-- Isolation: services connect as a member of tideflow_app, which owns nothing, is not a
-- superuser and has NOBYPASSRLS, so every policy below applies to it. The store opens each
-- transaction with `SET LOCAL tideflow.tenant = '<tenant>'` (rows of that tenant only) or,
-- for the platform's own work that spans tenants by design (the scheduler's batches, the
-- outbox relay, timers, authentication lookups), `SET LOCAL tideflow.platform = 'on'`.
-- A transaction that sets neither sees no rows at all: forgetting the scope fails closed.

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_roles WHERE rolname = 'tideflow_app' AND (rolsuper OR rolbypassrls)
    ) THEN
        ALTER ROLE tideflow_app NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

CREATE FUNCTION tideflow_tenant_visible(tenant text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT current_setting('tideflow.platform', true) = 'on'
        OR tenant = current_setting('tideflow.tenant', true)
$$;

CREATE FUNCTION tideflow_platform_scope() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT current_setting('tideflow.platform', true) = 'on'
$$;

CREATE TABLE tenants (
    name                    text        PRIMARY KEY
                                        CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at              timestamptz NOT NULL DEFAULT now(),
    run_starts_per_second   double precision CHECK (run_starts_per_second > 0),
    api_requests_per_second double precision CHECK (api_requests_per_second > 0)
);
-- Existing installs: everything without a tenant already belongs to `default`.
INSERT INTO tenants (name) VALUES ('default');

CREATE TABLE api_tokens (
    token_id    text        PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (name),
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('viewer', 'editor', 'approver', 'admin')),
    secret_hash text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, created_at);

CREATE TABLE users (
    user_id       text        PRIMARY KEY,
    tenant_id     text        NOT NULL REFERENCES tenants (name),
    username      text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('viewer', 'editor', 'approver', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled      boolean     NOT NULL DEFAULT false
);
CREATE INDEX users_by_tenant ON users (tenant_id, username);

CREATE TABLE refresh_tokens (
    token_id    text        PRIMARY KEY,
    family_id   text        NOT NULL,
    user_id     text        NOT NULL REFERENCES users (user_id),
    tenant_id   text        NOT NULL,
    secret_hash text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- JWT signing keys: deployment state, not tenant data (platform scope only).
CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    algorithm   text        NOT NULL,
    private_key bytea       NOT NULL,
    wrapped_key bytea       NOT NULL,
    kek_id      text        NOT NULL,
    public_jwk  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

CREATE TABLE secrets (
    tenant_id   text        NOT NULL,
    name        text        NOT NULL,
    ciphertext  bytea       NOT NULL,
    wrapped_key bytea       NOT NULL,
    kek_id      text        NOT NULL,
    algorithm   text        NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE audit_log (
    id        bigserial   PRIMARY KEY,
    tenant_id text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL,
    resource  text        NOT NULL,
    source    text,
    before    jsonb,
    after     jsonb,
    details   jsonb
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id DESC);
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION tideflow_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tideflow_refuse_change();

GRANT SELECT, INSERT, UPDATE ON tenants, api_tokens, users, refresh_tokens, signing_keys
    TO tideflow_app;
GRANT DELETE ON signing_keys TO tideflow_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON secrets TO tideflow_app;
GRANT SELECT, INSERT ON audit_log TO tideflow_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO tideflow_app;

-- Row-level security: one policy per table, the same predicate for reads and writes.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'workflows', 'workflow_versions', 'runs', 'run_steps', 'run_events', 'run_snapshots',
        'outbox', 'timers', 'processed_commands', 'run_logs', 'api_tokens', 'users',
        'refresh_tokens', 'secrets', 'audit_log'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO tideflow_app '
            'USING (tideflow_tenant_visible(tenant_id)) '
            'WITH CHECK (tideflow_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO tideflow_app
    USING (tideflow_tenant_visible(name)) WITH CHECK (tideflow_platform_scope());

ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON signing_keys TO tideflow_app
    USING (tideflow_platform_scope()) WITH CHECK (tideflow_platform_scope());
