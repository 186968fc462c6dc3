"""Prometheus metrics of the collaboration service (the process-wide registry)."""

from prometheus_client import Counter, Gauge

ROOMS = Gauge("tideflow_collab_rooms", "Rooms open on this replica.")
CLIENTS = Gauge("tideflow_collab_clients", "WebSocket clients connected to this replica.")
UPDATES = Counter("tideflow_collab_updates_total", "Document updates accepted from clients.")
REFUSED = Counter(
    "tideflow_collab_refused_updates_total", "Document updates refused (read-only clients)."
)
SESSIONS_ENDED = Counter(
    "tideflow_collab_sessions_ended_total",
    "Connections closed by the service because their credential no longer holds.",
    ["reason"],
)
