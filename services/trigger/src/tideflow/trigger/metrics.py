"""Prometheus metrics of the trigger service (process-wide default registry)."""

from prometheus_client import Counter, Histogram

STARTS = Counter("tideflow_trigger_runs_started_total", "Runs started by triggers.", ["type"])
DUPLICATES = Counter(
    "tideflow_trigger_duplicates_total",
    "Deliveries answered with an existing run (same idempotency key).",
    ["type"],
)
REJECTED = Counter(
    "tideflow_trigger_webhooks_rejected_total", "Webhook requests refused.", ["reason"]
)
FILTERED = Counter(
    "tideflow_trigger_events_filtered_total", "Event messages that no trigger filter matched."
)
EVENTS_REFUSED = Counter(
    "tideflow_trigger_events_refused_total",
    "Event messages sent to the DLQ: they can never start their trigger's run "
    "(the reason is the error code: NulCharacter, NonFiniteNumber, ValueTooDeep, "
    "ValueTooLarge, INPUT_INVALID, START_FAILED).",
    ["reason"],
)
CRON_TICKS = Counter(
    "tideflow_trigger_cron_ticks_total", "Cron ticks fired or skipped.", ["outcome"]
)
WEBHOOK_ATTEMPTS = Counter(
    "tideflow_webhook_delivery_attempts_total",
    "Outbound webhook delivery attempts, by outcome (succeeded, retry, given_up).",
    ["outcome"],
)
WEBHOOK_QUEUED = Counter(
    "tideflow_webhook_events_read_total",
    "Run events the webhook fan-out has read from the log.",
)
WEBHOOK_SECONDS = Histogram(
    "tideflow_webhook_delivery_seconds",
    "How long a subscriber took to answer a delivery attempt.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
THROTTLED = Counter(
    "tideflow_trigger_throttled_total",
    "Trigger starts held back by the tenant's run-start limit: webhooks refused (429), "
    "cron ticks deferred to a later poll, event starts deferred until a token comes.",
    ["type"],
)
