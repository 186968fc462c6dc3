"""Plumbing every service shares: health and metrics endpoints, JSON logs, clean shutdown."""

from tideflow.runtime._health import EmbeddedServer, HealthServer, Readiness, health_app
from tideflow.runtime._logging import configure_logging
from tideflow.runtime._shutdown import stop_on_signals

__all__ = [
    "EmbeddedServer",
    "HealthServer",
    "Readiness",
    "configure_logging",
    "health_app",
    "stop_on_signals",
]
