-- A deferred event-trigger start holds its whole run, not only its StartRun: the run is
-- recorded when its tenant's token is taken, as every other start is, so no `pending` run
-- shows (and takes a cancel that its later StartRun would ignore) while it waits. The
-- run's key is unique here too, so a redelivered message parks nothing twice. Rows
-- without `workflow_id` are 0025's (their run already recorded): only their StartRun moves.
ALTER TABLE trigger_deferred_starts
    ADD COLUMN workflow_id     text,
    ADD COLUMN version         integer,
    ADD COLUMN input           jsonb,
    ADD COLUMN idempotency_key text,
    ADD COLUMN started_at      timestamptz;
CREATE UNIQUE INDEX trigger_deferred_starts_key
    ON trigger_deferred_starts (tenant_id, workflow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
