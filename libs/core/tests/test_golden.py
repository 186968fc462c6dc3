"""Golden replays: recorded event streams must fold to exactly the recorded states, and the
recorded commands must still decide exactly the recorded events.

A change to `evolve` or `decide` that alters what history means fails here. If the change
is intended, rerun `tests/golden/write_golden.py` and review the diff of the fixtures.
"""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tideflow.core import (
    RunState,
    command_from_record,
    decide,
    event_from_record,
    event_to_record,
    evolve,
    state_to_record,
)

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden"
FILES = sorted(GOLDEN.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_fixtures_exist() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_events_fold_to_recorded_states(path: Path) -> None:
    golden = load(path)
    state = RunState()
    for seq, (record, expected) in enumerate(
        zip(golden["events"], golden["states"], strict=True), start=1
    ):
        state = evolve(state, event_from_record(record["type"], record["data"]))
        assert state_to_record(state) == expected, f"state differs after event {seq}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_commands_decide_recorded_events(path: Path) -> None:
    golden = load(path)
    state = RunState()
    produced: list[dict[str, Any]] = []
    for item in golden["commands"]:
        command = command_from_record(item["type"], item["data"])
        decided = decide(state, command, datetime.fromisoformat(item["now"]))  # type: ignore[arg-type]
        state = decided.state
        for event in decided.events:
            kind, data = event_to_record(event)
            produced.append({"type": kind, "data": data})
    assert produced == golden["events"]
