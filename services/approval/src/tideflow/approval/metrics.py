"""Prometheus metrics of the approval service (process-wide default registry)."""

from prometheus_client import Counter

REQUESTED = Counter("tideflow_approvals_requested_total", "Approvals added to the inbox.")
VOTES = Counter("tideflow_approval_votes_total", "Decisions people made (votes).", ["decision"])
CLOSED = Counter(
    "tideflow_approvals_closed_total", "Approvals closed, by outcome.", ["status", "decision"]
)
REFUSED = Counter(
    "tideflow_approval_decisions_refused_total", "Decisions refused, by reason.", ["reason"]
)
