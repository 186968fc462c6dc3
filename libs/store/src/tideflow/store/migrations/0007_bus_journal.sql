-- The journal of the in-process bus (`tide dev`): what makes it as durable as Kafka.
--
-- The in-process bus keeps its partitioned logs in memory for delivery, and writes every
-- record and every committed consumer-group offset here before a publish or a commit
-- returns. After a crash (SIGKILL, Ctrl-C, power loss) the next start loads the logs and
-- offsets back, so whatever a consumer had not committed is delivered again, exactly as
-- Kafka redelivers. One process at a time writes it (a session advisory lock). Records
-- every live group has committed past are pruned. No tenant_id: deployment state, not
-- tenant data (like event_publisher_positions). Unused when the bus is Kafka.
CREATE TABLE bus_topics (
    topic      text    PRIMARY KEY,
    partitions integer NOT NULL CHECK (partitions > 0)
);

CREATE TABLE bus_records (
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    "offset"    bigint      NOT NULL CHECK ("offset" >= 0),
    key         bytea,
    value       bytea       NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '[]',
    appended_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE bus_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL CHECK (partition >= 0),
    committed      bigint      NOT NULL CHECK (committed >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON bus_topics, bus_records, bus_offsets TO tideflow_app;
