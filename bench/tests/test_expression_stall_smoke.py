"""`bench/expression_stall.py`, briefly: it runs and prints its measures (not their values)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[1] / "expression_stall.py"


def test_expression_stall_prints_latencies_and_what_the_noisy_runs_ended_with() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "2", "--noisy", "2", "--string-kb", "20"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert sum("quick run behind" in line for line in lines) == 3  # 0, 1 and 2 noisy runs
    assert "noisy runs ended: {'failed ExpressionBudgetExceeded': 6}" in lines
