-- Observability (docs/observability.md).
--
-- The backlog sampler counts unfinished runs, and those idle for a while, every few
-- seconds across all tenants: a partial index over exactly the unfinished ones keeps that
-- cheap however many finished runs the table holds.
CREATE INDEX runs_active ON runs (status, updated_at)
    WHERE status IN ('pending', 'running', 'waiting');

-- The W3C trace context of the run's trace (the span of the request that started it, or
-- the scheduler's first span when nothing did): later commands that arrive without it
-- (timers, signals, approvals, cancels) are decided in the run's own trace.
ALTER TABLE runs ADD COLUMN traceparent text;
