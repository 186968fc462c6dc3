-- Approval inbox (services/approval) and trigger registrations (services/trigger).

-- The approval inbox: a projection of ApprovalRequested / ApprovalDecided / step outcomes
-- read from the public event stream, plus the individual decisions of a quorum.
CREATE TABLE approvals (
    approval_id  text        PRIMARY KEY,
    tenant_id    text        NOT NULL DEFAULT 'default',
    run_id       text        NOT NULL,
    node_id      text        NOT NULL,
    step         text        NOT NULL,
    attempt      integer     NOT NULL,
    workflow_id  text        NOT NULL,
    title        text,
    description  text,
    assignees    text[]      NOT NULL DEFAULT '{}',
    role         text,
    quorum       integer     NOT NULL DEFAULT 1 CHECK (quorum > 0),
    on_timeout   text        NOT NULL DEFAULT 'fail',
    status       text        NOT NULL DEFAULT 'pending',
    decision     text,
    decided_by   text,
    comment      text,
    decided_at   timestamptz,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination, newest first, per tenant and optionally per status/workflow/run.
CREATE INDEX approvals_by_request ON approvals (tenant_id, requested_at DESC, approval_id DESC);
CREATE INDEX approvals_by_status
    ON approvals (tenant_id, status, requested_at DESC, approval_id DESC);
CREATE INDEX approvals_by_run ON approvals (run_id);

-- One row per person and approval: the same person cannot count twice towards a quorum.
CREATE TABLE approval_decisions (
    approval_id text        NOT NULL REFERENCES approvals (approval_id) ON DELETE CASCADE,
    tenant_id   text        NOT NULL DEFAULT 'default',
    decided_by  text        NOT NULL,
    decision    text        NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment     text,
    decided_at  timestamptz NOT NULL,
    PRIMARY KEY (approval_id, decided_by)
);

-- Triggers of the latest published version of each workflow, written by the publishing
-- transaction (and removed when a later version drops them or the workflow is archived).
-- Cron rows carry the next tick; replicas claim due rows FOR UPDATE SKIP LOCKED.
CREATE TABLE triggers (
    tenant_id    text        NOT NULL DEFAULT 'default',
    workflow_id  text        NOT NULL,
    trigger_id   text        NOT NULL,
    type         text        NOT NULL CHECK (type IN ('webhook', 'cron', 'event')),
    version      integer     NOT NULL,
    spec         jsonb       NOT NULL,
    topic        text,
    paused       boolean     NOT NULL DEFAULT false,
    next_fire_at timestamptz,
    last_fired_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow_id, trigger_id),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, workflow_id)
);
CREATE INDEX triggers_cron_due ON triggers (next_fire_at) WHERE type = 'cron' AND NOT paused;
CREATE INDEX triggers_by_topic ON triggers (topic) WHERE type = 'event';

GRANT SELECT, INSERT, UPDATE, DELETE ON approvals, approval_decisions, triggers TO tideflow_app;

-- Row-level security, as for every table of tenant data (migration 0004's predicate).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['approvals', 'approval_decisions', 'triggers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO tideflow_app '
            'USING (tideflow_tenant_visible(tenant_id)) '
            'WITH CHECK (tideflow_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
