"""The executor's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

TASKS = Counter("tideflow_executor_tasks_total", "Task attempts run.", ["node_type", "outcome"])
TASK_SECONDS = Histogram(
    "tideflow_executor_task_seconds",
    "Handler time per attempt.",
    ["node_type"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
IN_FLIGHT = Gauge("tideflow_executor_in_flight", "Attempts running now (concurrency slots in use).")
CONCURRENCY = Gauge(
    "tideflow_executor_concurrency_limit", "Attempts this process runs at once at most."
)
CANCELLED = Counter("tideflow_executor_cancelled_total", "Attempts cancelled by their run.")
