"""`helm test`: the chart's test pod asks every Service of the release for /readyz.

The pod's own command is run here with this machine's Python against local HTTP servers
standing in for the Services: it passes when every one is ready and fails, naming it, when
one answers 503.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from .chart import Rendered

pytestmark = pytest.mark.unit


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _NotReady(_Health):
    status = 503


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """(ready, not ready) base URLs on loopback."""
    started = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for handler in (_Health, _NotReady)]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in started)  # type: ignore[misc]
    for server in started:
        server.shutdown()
        server.server_close()


def test_the_test_pod_checks_every_service(rendered: dict[str, Rendered]) -> None:
    for scenario, result in rendered.items():
        (pod,) = result.of_kind("Pod")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        (container,) = pod["spec"]["containers"]
        urls = container["command"][3:]
        services = {
            f"http://{s['metadata']['name']}:{s['spec']['ports'][0]['port']}/readyz"
            for s in result.of_kind("Service")
            if "tideflow.io/service" in s["metadata"]["labels"]
        }
        assert set(urls) == services, scenario
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["automountServiceAccountToken"] is False


def test_the_test_pod_fails_when_a_service_is_not_ready(
    rendered: dict[str, Rendered], servers: tuple[str, str]
) -> None:
    ready, not_ready = servers
    (pod,) = rendered["defaults"].of_kind("Pod")
    (container,) = pod["spec"]["containers"]
    program, urls = container["command"][:3], container["command"][3:]
    assert program[:2] == ["python", "-c"]

    def run(targets: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", program[2], *targets],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    local = [f"{ready}{urlsplit(url).path}" for url in urls]
    assert run(local).returncode == 0
    broken = [*local[:-1], f"{not_ready}/readyz"]
    result = run(broken)
    assert result.returncode == 1
    assert f"{not_ready}/readyz FAILED" in result.stdout
