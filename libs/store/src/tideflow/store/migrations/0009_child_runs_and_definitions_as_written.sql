-- The child run a `subworkflow` step started, so a run's steps point at their children
-- without reading the event log.
ALTER TABLE run_steps ADD COLUMN child_run_id text;

-- Definitions are kept as they were written: `json` keeps the text (and so the order of
-- keys) that `jsonb` would re-sort. Nothing queries inside them; they are read whole.
ALTER TABLE workflows ALTER COLUMN draft TYPE json USING draft::json;
ALTER TABLE workflow_versions ALTER COLUMN definition TYPE json USING definition::json;
