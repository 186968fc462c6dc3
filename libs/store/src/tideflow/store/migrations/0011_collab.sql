-- Collaborative editing (services/collab): each workflow draft's shared Yjs document.
--
-- The document is an append-only log of Yjs updates (`collab_updates`, one row per edit
-- with who made it and what it changed) folded now and then into a snapshot
-- (`collab_documents.state`, covering every update up to `upto`). Loading a room reads the
-- snapshot and the updates after it. `pending` keeps the attribution of compacted updates
-- not yet covered by a publish (`attributed_upto`), so "who changed what since the last
-- version" survives compaction. `draft_revision` is the workflow draft revision the
-- document last matched and `edited_at` the time of its last edit, so a draft replaced
-- through the API after the last edit is noticed (and the document follows it).
CREATE TABLE collab_documents (
    tenant_id        text        NOT NULL DEFAULT 'default',
    workflow_id      text        NOT NULL,
    state            bytea       NOT NULL,
    upto             bigint      NOT NULL DEFAULT 0,
    pending          jsonb       NOT NULL DEFAULT '[]',
    attributed_upto  bigint      NOT NULL DEFAULT 0,
    draft_revision   integer     NOT NULL DEFAULT 0,
    edited_at        timestamptz NOT NULL DEFAULT now(),
    compacted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow_id),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, workflow_id)
);

CREATE TABLE collab_updates (
    id           bigserial   PRIMARY KEY,
    tenant_id    text        NOT NULL DEFAULT 'default',
    workflow_id  text        NOT NULL,
    payload      bytea       NOT NULL,
    author       text,
    changes      jsonb       NOT NULL DEFAULT '[]',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES collab_documents (tenant_id, workflow_id)
);
CREATE INDEX collab_updates_by_document ON collab_updates (tenant_id, workflow_id, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON collab_documents, collab_updates TO tideflow_app;
GRANT USAGE ON SEQUENCE collab_updates_id_seq TO tideflow_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['collab_documents', 'collab_updates'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO tideflow_app '
            'USING (tideflow_tenant_visible(tenant_id)) '
            'WITH CHECK (tideflow_tenant_visible(tenant_id))', t);
    END LOOP;
END
$$;
