"""`bench/hot_path.py` briefly: it prints CPU per step for each workload (shape only)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[1] / "hot_path.py"


def test_hot_path_prints_cpu_per_step() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "3", "--rounds", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for workload in ("chain10", "fanout50"):
        line = next(x for x in done.stdout.splitlines() if x.startswith(workload))
        found = re.search(r"CPU ms/step best ([0-9.]+)", line)
        assert found is not None, line
        assert float(found.group(1)) > 0
