"""`tide run signal|cancel|fail --idempotency-key`: the key (and reason) is sent as given, and
the API's refusal of other content under a used key (409 IDEMPOTENCY_CONFLICT) is one line
and exit 1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli import run as run_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit


def serving(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in API that takes a key's first data and refuses other data for it."""
    bodies: list[dict[str, Any]] = []
    first: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        seen = first.setdefault(body["idempotencyKey"], body["data"])
        if seen != body["data"]:
            error = {"code": "IDEMPOTENCY_CONFLICT", "message": "different data",
                     "details": {"runId": "r-1", "signal": "go", "differs": ["data"]}}  # fmt: skip
            return httpx.Response(409, json={"error": error})
        return httpx.Response(202, json={"runId": "r-1", "commandId": "c", "accepted": True})

    def connect(*_args: object, **_kwargs: object) -> Client:
        return Client("http://api.test", transport=httpx.MockTransport(answer), retries=Retries())

    monkeypatch.setattr(run_cli, "connect", connect)
    return bodies


def test_the_key_is_sent_and_a_conflict_fails_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies = serving(monkeypatch)
    runner = CliRunner()
    args = ["signal", "r-1", "go", "--idempotency-key", "once"]
    assert runner.invoke(run_cli.app, [*args, "--data", "1"]).exit_code == 0
    assert runner.invoke(run_cli.app, [*args, "--data", "1"]).exit_code == 0
    refused = runner.invoke(run_cli.app, [*args, "--data", "2"])
    assert refused.exit_code == 1
    assert "IDEMPOTENCY_CONFLICT" in refused.output
    assert [b["idempotencyKey"] for b in bodies] == ["once"] * 3


def serving_stops(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """A stand-in API for cancel and fail that refuses another reason under a used key."""
    requests: list[tuple[str, dict[str, Any]]] = []
    first: dict[tuple[str, str], Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append((request.url.path, body))
        seen = first.setdefault((request.url.path, body["idempotencyKey"]), body.get("reason"))
        if seen != body.get("reason"):
            error = {"code": "IDEMPOTENCY_CONFLICT", "message": "different reason",
                     "details": {"runId": "r-1", "differs": ["reason"]}}  # fmt: skip
            return httpx.Response(409, json={"error": error})
        return httpx.Response(202, json={"runId": "r-1", "commandId": "c", "accepted": True})

    def connect(*_args: object, **_kwargs: object) -> Client:
        return Client("http://api.test", transport=httpx.MockTransport(answer), retries=Retries())

    monkeypatch.setattr(run_cli, "connect", connect)
    return requests


@pytest.mark.parametrize("kind", ["cancel", "fail"])
def test_cancel_and_fail_send_the_reason_and_key(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    requests = serving_stops(monkeypatch)
    runner = CliRunner()
    args = [kind, "r-1", "--idempotency-key", "once"]
    assert runner.invoke(run_cli.app, [*args, "--reason", "dup"]).exit_code == 0
    refused = runner.invoke(run_cli.app, [*args, "--reason", "other"])
    assert refused.exit_code == 1
    assert "IDEMPOTENCY_CONFLICT" in refused.output
    assert requests == [(f"/runs/r-1/{kind}", {"reason": r, "idempotencyKey": "once"})
                        for r in ("dup", "other")]  # fmt: skip
