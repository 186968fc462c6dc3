-- A run whose row turns terminal notifies `tideflow_run_ended` (payload: the run id), so a
-- request waiting for the run (`GET /runs/{id}?wait=`) wakes at the commit instead of
-- polling. NOTIFY is transactional: it is delivered when (and only if) the writing
-- transaction commits, whichever service wrote it (scheduler, gateway, approval).

CREATE FUNCTION tideflow_notify_run_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tideflow_run_ended', NEW.run_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_notify_ended_on_insert
    AFTER INSERT ON runs
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled', 'compensated'))
    EXECUTE FUNCTION tideflow_notify_run_ended();

CREATE TRIGGER runs_notify_ended_on_update
    AFTER UPDATE OF status ON runs
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled', 'compensated')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tideflow_notify_run_ended();
