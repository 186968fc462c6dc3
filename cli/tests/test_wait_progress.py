"""`run start --wait` away from a terminal: one line per change, in order, as it happens."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.cli import run as run_cli

pytestmark = pytest.mark.unit


class Polls:
    """Answers GET /runs/{id} with the next state of a scripted run."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def get(self, path: str, **_: Any) -> dict[str, Any]:
        assert path == "/runs/r-1"
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def state(status: str, *steps: tuple[str, str, int]) -> dict[str, Any]:
    return {"runId": "r-1", "status": status,
            "steps": [{"nodeId": n, "status": s, "attempt": a} for n, s, a in steps]}  # fmt: skip


@pytest.mark.parametrize("err", [False, True])
def test_each_change_is_one_line_on_the_chosen_stream(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, err: bool
) -> None:
    monkeypatch.setattr(run_cli.time, "sleep", lambda _: None)
    polls = Polls([
        state("running", ("pay", "running", 1)),
        state("waiting", ("pay", "waiting", 1)),
        state("waiting", ("pay", "waiting", 1)),  # nothing new: nothing printed
        state("running", ("pay", "running", 2)),
        state("waiting", ("pay", "waiting", 2)),  # waiting again: printed again
        state("succeeded", ("pay", "succeeded", 2)),
    ])  # fmt: skip
    final = run_cli.wait_for(polls, "r-1", timeout=60, err=err)  # type: ignore[arg-type]
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
