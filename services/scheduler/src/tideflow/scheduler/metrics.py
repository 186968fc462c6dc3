"""The scheduler's Prometheus metrics (names are part of the dashboards' contract)."""

from prometheus_client import Counter, Gauge, Histogram

BATCH_SECONDS = Histogram(
    "tideflow_scheduler_batch_seconds",
    "Time to decide and durably commit one batch of commands.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "tideflow_scheduler_batch_commands",
    "Commands per batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
COMMANDS = Counter("tideflow_scheduler_commands_total", "Commands decided.", ["type"])
EVENTS = Counter("tideflow_scheduler_events_total", "Events appended to the log.", ["type"])
RUNS_STARTED = Counter("tideflow_runs_started_total", "Runs started.", ["workflow"])
RUNS_ENDED = Counter(
    "tideflow_runs_completed_total", "Runs that ended, by final status.", ["workflow", "status"]
)
STEP_SECONDS = Histogram(
    "tideflow_step_duration_seconds",
    "Duration of steps from schedule to end.",
    ["node_type", "status"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300),
)
CONFLICTS = Counter(
    "tideflow_scheduler_conflicts_total", "Batches retried after another writer appended."
)
DEAD_LETTERS = Counter(
    "tideflow_scheduler_dead_letters_total", "Commands sent to the dead-letter topic.", ["code"]
)
TIMERS_FIRED = Counter("tideflow_timers_fired_total", "Durable timers that came due.")
OUTBOX_RELAYED = Counter(
    "tideflow_outbox_relayed_total", "Outbox rows published by the relay after a crash."
)
EVENTS_PUBLISHED = Counter(
    "tideflow_events_published_total", "Run events published on the public event stream."
)
EVENTS_PUBLISHED_POSITION = Gauge(
    "tideflow_events_published_position",
    "Log position up to which this replica published the public stream (compare with the "
    "log's last position for the lag).",
)
