-- Outbound run-event webhooks (docs/webhooks.md): subscriptions, their deliveries and the
-- attempts of each delivery. A follower of the event log (`event_publisher_positions`,
-- name 'webhooks') fans events out into deliveries in the transaction that advances it,
-- so a restart neither loses nor duplicates one; (subscription, event) is unique.

CREATE TABLE webhook_subscriptions (
    subscription_id uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    url             text NOT NULL,
    events          text[] NOT NULL,
    workflow_id     text,
    -- the signing secret, envelope-encrypted (AES-256-GCM data key wrapped by the KEK)
    secret_ciphertext bytea NOT NULL,
    secret_wrapped_key bytea NOT NULL,
    secret_kek_id   text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing')),
    flagged_at      timestamptz,
    flag_reason     text,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_by_tenant ON webhook_subscriptions (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    delivery_id     uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    tenant_id       text NOT NULL,
    event_id        text NOT NULL,            -- run_id:seq
    event_type      text NOT NULL,            -- run.failed, approval.requested, ...
    run_id          text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    give_up_at      timestamptz NOT NULL,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_subscription
    ON webhook_deliveries (subscription_id, created_at DESC);

CREATE TABLE webhook_attempts (
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt         integer NOT NULL,
    tenant_id       text NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    status_code     integer,
    response_body   text,
    error           text,
    PRIMARY KEY (delivery_id, attempt)
);

GRANT SELECT, INSERT, UPDATE, DELETE
    ON webhook_subscriptions, webhook_deliveries, webhook_attempts TO tideflow_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_subscriptions', 'webhook_deliveries', 'webhook_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO tideflow_app '
            'USING (tideflow_tenant_visible(tenant_id)) '
            'WITH CHECK (tideflow_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;

-- The fan-out starts at the end of the log as it is now: events recorded before
-- webhooks existed are not delivered to subscriptions made later.
INSERT INTO event_publisher_positions (name, position)
SELECT 'webhooks', coalesce(max(position), 0) FROM run_events
ON CONFLICT (name) DO NOTHING;
