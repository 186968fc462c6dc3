"""`bench/triggers_bench.py` with tiny counts: it runs and prints one line per measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[1] / "triggers_bench.py"


def test_triggers_bench_prints_its_measures(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--hooks", "6", "--crons", "3", "--approvals", "4",
         "--concurrency", "2"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TIDEFLOW_DATABASE_URL": database_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    labels = [line.split("  ")[0].strip() for line in done.stdout.splitlines()]
    assert labels == [
        "webhook, new delivery",
        "webhook, repeated delivery",
        "cron ticks, two replicas",
        "approval decisions",
    ]
