"""Record golden event streams: `.venv/bin/python tests/golden/write_golden.py`.

Each scenario drives one example workflow with LocalRun and writes the commands (with the
clock), the events, and the state after every event. libs/core/tests/test_golden.py
replays them; rerun this script only when a change of history meaning is intended.
"""

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tideflow.core import command_to_record, event_to_record, fold, state_to_record
from tideflow.core.testing import LocalRun

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def hello(run: LocalRun) -> None:
    run.start({"name": "Ada"})


def http_retry(run: LocalRun) -> None:
    run.start({"repo": "tideflow/tideflow"})
    run.fail("fetch", "HTTP503", "service unavailable")
    run.advance(timedelta(seconds=1))
    run.advance(timedelta(seconds=30))  # the timeout of attempt 2 fires
    run.advance(timedelta(seconds=2))
    run.complete("fetch", {"status": 200, "body": {"stargazers_count": 4321}})


def approval(run: LocalRun) -> None:
    run.start({"total": 5000})
    run.decide_approval("approve", approved=True, comment="fine")
    run.complete("book", {"booking": "B-1"})


def approval_rejected(run: LocalRun) -> None:
    run.start({"total": 7000})
    run.decide_approval("approve", approved=False, comment="over budget")


def signal_wait(run: LocalRun) -> None:
    run.start({"amount": 12})
    run.signal("payment-received", {"amount": 12})  # early: buffered
    run.complete("invoice", {"sent": True})
    run.advance(timedelta(minutes=5))
    run.complete("receipt", "ok")


def foreach(run: LocalRun) -> None:
    run.start({"images": ["a.png", "b.png", "c.png", "d.png"]})
    run.complete("resize[1]", "b-128")
    run.fail("resize[0]", "Timeout", "slow")
    run.complete("resize[2]", "c-128")
    run.advance(timedelta(seconds=1))
    run.complete("resize[3]", "d-128")
    run.complete("resize[0]", "a-128")


def saga(run: LocalRun) -> None:
    run.start({"trip": "T-9"})
    run.complete("flight", {"id": "F1"})
    run.complete("hotel", {"id": "H1"})
    run.complete("car", {"id": "C1"})
    run.fail("charge", "CardDeclined", "declined", retryable=True)
    run.complete("car.compensate")
    run.fail("hotel.compensate", "Gone", "already cancelled", retryable=False)
    run.complete("flight.compensate")


def cancel(run: LocalRun) -> None:
    run.start({"trip": "T-10"})
    run.complete("flight", {"id": "F2"})
    run.cancel("customer changed plans")
    run.complete("flight.compensate")


SCENARIOS: dict[str, tuple[str, Callable[[LocalRun], None]]] = {
    "hello": ("hello.yaml", hello),
    "http-retry": ("http-call.yaml", http_retry),
    "approval": ("order-approval.yaml", approval),
    "approval-rejected": ("order-approval.yaml", approval_rejected),
    "signal-wait": ("signal-wait.yaml", signal_wait),
    "foreach": ("foreach.yaml", foreach),
    "saga": ("saga.yaml", saga),
    "cancel": ("saga.yaml", cancel),
}


def record(name: str) -> dict[str, Any]:
    """Run one scenario and return its golden document."""
    example, play = SCENARIOS[name]
    run = LocalRun((ROOT / "examples" / example).read_text(), run_id=f"golden-{name}")
    play(run)
    events = [event_to_record(e) for e in run.events]
    return {
        "scenario": name,
        "example": example,
        "runId": run.run_id,
        "commands": [
            {"now": now.isoformat(), "type": t, "data": d}
            for now, (t, d) in ((now, command_to_record(c)) for now, c in run.history)
        ],
        "events": [{"type": t, "data": d} for t, d in events],
        "states": [state_to_record(fold(run.events[: i + 1])) for i in range(len(run.events))],
    }


def main() -> None:
    for name in SCENARIOS:
        document = record(name)
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        final = document["states"][-1]
        print(f"{path.name}: {len(document['events'])} events, final status {final['status']}")  # noqa: T201


if __name__ == "__main__":
    main()
