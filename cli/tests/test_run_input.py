"""`tide run start|replay --input` sends the JSON given, whatever it is.

`--input '[]'`, `0`, `false` or `""` were sent as `{}`: the CLI took any falsy value for
"no input", so the run got an input the user never wrote (the API takes any JSON value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli import run as run_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit

RUN = {"runId": "r-1", "workflowId": "w", "version": 1, "status": "pending", "steps": []}


def recording(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every command gets its own client (each closes it); the bodies sent are kept."""
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json=RUN)

    def connect(*_args: object, **_kwargs: object) -> Client:
        transport = httpx.MockTransport(answer)
        return Client("http://api.test", transport=transport, retries=Retries())

    monkeypatch.setattr(run_cli, "connect", connect)
    return bodies


@pytest.mark.parametrize("given", ["[]", "0", "false", '""', "[1]", '{"a": 1}'])
def test_start_and_replay_send_the_input_as_written(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    bodies = recording(monkeypatch)
    runner = CliRunner()
    started = runner.invoke(run_cli.app, ["start", "w", "--input", given])
    replayed = runner.invoke(run_cli.app, ["replay", "r-0", "--from-seq", "3", "--input", given])
    assert started.exit_code == 0, started.output
    assert replayed.exit_code == 0, replayed.output
    assert [body["input"] for body in bodies] == [json.loads(given)] * 2


def test_no_input_is_an_empty_object_and_replay_keeps_the_original(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies = recording(monkeypatch)
    runner = CliRunner()
    assert runner.invoke(run_cli.app, ["start", "w"]).exit_code == 0
    assert runner.invoke(run_cli.app, ["replay", "r-0", "--from-seq", "3"]).exit_code == 0
    assert bodies[0]["input"] == {}
    assert "input" not in bodies[1]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("[" * 100_000, "nests too deep"),  # a RecursionError traceback before
        ('{"a": 1e400}', "NaN or Infinity"),  # was sent as `Infinity`, refused as not JSON
        ('{"a": NaN}', "NaN or Infinity"),
    ],
)
def test_input_the_api_cannot_take_is_one_line_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, given: str, message: str
) -> None:
    bodies = recording(monkeypatch)
    result = CliRunner().invoke(run_cli.app, ["start", "w", "--input", given])
    assert result.exit_code == 2, result.output
    assert "error INVALID_JSON" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert bodies == []


def test_a_definition_file_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    from tideflow.cli import workflow as workflow_cli

    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000)
    result = CliRunner().invoke(workflow_cli.app, ["validate", "-f", str(deep)])
    assert result.exit_code == 2, result.output
    assert "error INVALID_YAML" in result.output
    assert "Traceback" not in result.output
