"""The scheduler's Prometheus metrics (names are part of the dashboards' contract).

Every name is documented in docs/observability.md, and the dashboards in
deploy/grafana/dashboards/ and the alert rules in deploy/prometheus/ query them. Labels
stay bounded: workflow ids, node types, statuses and command types, never run ids.
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

BATCH_SECONDS = Histogram(
    "tideflow_scheduler_batch_seconds",
    "Time to decide and durably commit one batch of commands.",
    buckets=LATENCY_BUCKETS,
)
DECIDE_SECONDS = Histogram(
    "tideflow_scheduler_decide_seconds",
    "Time to load the runs of one batch and decide its commands (no writes).",
    buckets=LATENCY_BUCKETS,
)
COMMIT_SECONDS = Histogram(
    "tideflow_scheduler_commit_seconds",
    "Time of the one transaction that writes a batch's events, projections and outbox.",
    buckets=LATENCY_BUCKETS,
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
RUN_SECONDS = Histogram(
    "tideflow_run_duration_seconds",
    "Duration of runs from start to end, by final status.",
    ["workflow", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)
STEP_SECONDS = Histogram(
    "tideflow_step_duration_seconds",
    "Duration of step attempts from schedule to end, by outcome.",
    ["workflow", "node_type", "status"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300),
)
STEP_ATTEMPTS = Counter(
    "tideflow_step_attempts_total",
    "Step attempts scheduled (first tries and retries).",
    ["workflow", "node_type"],
)
STEP_RETRIES = Counter(
    "tideflow_step_retries_total",
    "Failed attempts that will be tried again after a backoff.",
    ["workflow", "node_type"],
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

# Backlogs, sampled from the database by `backlog.BacklogSampler` (every replica reports
# the same deployment-wide numbers: aggregate them with max(), not sum()).
OUTBOX_BACKLOG = Gauge(
    "tideflow_outbox_backlog_messages", "Outbox rows not yet published (whole deployment)."
)
OUTBOX_OLDEST = Gauge(
    "tideflow_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0: none)."
)
TIMERS_PENDING = Gauge("tideflow_timers_pending", "Durable timers set and not yet fired.")
TIMERS_OVERDUE = Gauge(
    "tideflow_timers_overdue", "Timers whose fire time has passed but that have not fired."
)
RUNS_ACTIVE = Gauge("tideflow_runs_active", "Runs not yet ended, by status.", ["status"])
RUNS_IDLE = Gauge(
    "tideflow_runs_idle",
    "Runs not yet ended whose state has not changed for longer than "
    "TIDEFLOW_SCHEDULER_IDLE_AFTER (pending: never started), by status.",
    ["status"],
)
