"""`tide run events` shows the whole history, not only the server's first page."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli import run as run_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit

EVENTS = 1_203  # three pages of the server's default 500
AT = "2026-11-26T10:00:00Z"


def paged_server(requests: list[int]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/runs/r-1/events"
        after = int(request.url.params.get("afterSeq", "0"))
        requests.append(after)
        last = min(after + 500, EVENTS)
        items = [
            {"seq": seq, "type": "StepSucceeded", "data": {"n": seq}, "recordedAt": AT}
            for seq in range(after + 1, last + 1)
        ]
        body: dict[str, Any] = {"items": items, "nextAfterSeq": last if last < EVENTS else None}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("output", ["table", "json"])
def test_every_page_is_printed(monkeypatch: pytest.MonkeyPatch, output: str) -> None:
    requests: list[int] = []
    client = Client("http://api.test", transport=paged_server(requests), retries=Retries())
    monkeypatch.setattr(run_cli, "connect", lambda *_a, **_k: client)
    result = CliRunner().invoke(run_cli.app, ["events", "r-1", "--after-seq", "2", "-o", output])
    assert result.exit_code == 0, result.output
    assert requests == [2, 502, 1002]
    if output == "json":
        page = json.loads(result.stdout)
        assert [e["seq"] for e in page["items"]] == list(range(3, EVENTS + 1))
        assert page["nextAfterSeq"] is None
    else:
        rows = result.stdout.splitlines()[1:]
        assert [int(row.split()[0]) for row in rows] == list(range(3, EVENTS + 1))
