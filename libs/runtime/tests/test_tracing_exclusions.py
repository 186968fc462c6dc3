"""Which requests get no server span: probes, scrapes, and WebSockets whose URL carries a
token (a span would record it: OpenTelemetry redacts only a few signature parameters)."""

from __future__ import annotations

import pytest
from opentelemetry.util.http import parse_excluded_urls, redact_url

from tideflow.runtime._tracing import EXCLUDED

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "traced"),
    [
        ("http://gateway:8080/healthz", False),
        ("http://gateway:8080/metrics", False),
        ("ws://gateway:8080/collab/orders", False),
        ("ws://gateway:8080/runs/0b6c/logs", False),
        ("http://gateway:8080/collab/workflows/orders", True),
        ("http://gateway:8080/collab/workflows/orders/publish", True),
        ("http://gateway:8080/runs/0b6c", True),
        ("http://gateway:8080/runs/0b6c/logs/archive", True),
        ("http://gateway:8080/workflows/logs", True),
    ],
)
def test_excluded_urls(url: str, traced: bool) -> None:
    assert parse_excluded_urls(EXCLUDED).url_disabled(url) is not traced


def test_a_token_in_a_url_is_not_redacted_by_opentelemetry() -> None:
    """Why those WebSockets are excluded rather than traced."""
    assert "tfk_secret" in redact_url("ws://gateway/runs/0b6c/logs?token=tfk_secret")
