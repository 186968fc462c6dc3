"""`run start --wait` away from a terminal: one line per change, in order, as it happens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tideflow.cli import run as run_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit


def state(status: str, *steps: tuple[str, str, int]) -> dict[str, Any]:
    return {"runId": "r-1", "workflowId": "w", "version": 1, "status": status,
            "steps": [{"nodeId": n, "status": s, "attempt": a} for n, s, a in steps]}  # fmt: skip


def polls(states: list[dict[str, Any]]) -> Client:
    """A client whose GET /runs/r-1 answers the next state of a scripted run."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/runs/r-1"
        return httpx.Response(200, json=states.pop(0) if len(states) > 1 else states[0])

    return Client("http://api.test", transport=httpx.MockTransport(answer), retries=Retries())


@pytest.mark.parametrize("err", [False, True])
def test_each_change_is_one_line_on_the_chosen_stream(
    capsys: pytest.CaptureFixture[str], err: bool
) -> None:
    client = polls([
        state("running", ("pay", "running", 1)),
        state("waiting", ("pay", "waiting", 1)),
        state("waiting", ("pay", "waiting", 1)),  # nothing new: nothing printed
        state("running", ("pay", "running", 2)),
        state("waiting", ("pay", "waiting", 2)),  # waiting again: printed again
        state("succeeded", ("pay", "succeeded", 2)),
    ])  # fmt: skip
    final = run_cli.wait_for(client, "r-1", timeout=60, err=err)
    assert final["status"] == "succeeded"
    out, error = capsys.readouterr()
    printed = error if err else out
    assert (out if err else error) == ""
    assert printed.splitlines() == [
        "step pay running (attempt 1)", "run r-1 running",
        "step pay waiting (attempt 1)", "run r-1 waiting",
        "step pay running (attempt 2)", "run r-1 running",
        "step pay waiting (attempt 2)", "run r-1 waiting",
        "step pay succeeded (attempt 2)", "run r-1 succeeded",
    ]  # fmt: skip
