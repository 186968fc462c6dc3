-- Followers of the event log (the public `tideflow.events` publisher) keep their place here.
--
-- A follower reads run_events by position, publishes, and only after Kafka acknowledged
-- moves its row forward, in the same short transaction that holds the row with
-- FOR UPDATE SKIP LOCKED: one replica publishes at a time, the others skip the batch, and
-- a replica that dies releases the row with its connection.
CREATE TABLE event_publisher_positions (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Until this migration the scheduler published every event through the outbox, so the
-- events already in the log were published (or wait in the outbox for the relay): the
-- default publisher starts after them instead of re-publishing the whole history.
INSERT INTO event_publisher_positions (name, position)
SELECT 'tideflow.events', coalesce(max(position), 0) FROM run_events;

GRANT SELECT, INSERT, UPDATE ON event_publisher_positions TO tideflow_app;
