"""Prometheus metrics of the trigger service (process-wide default registry)."""

from prometheus_client import Counter

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
CRON_TICKS = Counter(
    "tideflow_trigger_cron_ticks_total", "Cron ticks fired or skipped.", ["outcome"]
)
