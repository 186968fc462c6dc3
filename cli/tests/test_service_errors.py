"""A service whose Kafka or Postgres is unreachable says so in one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TIDE = str(Path(sys.executable).with_name("tide"))


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (["serve", "gateway", "--port", "9"],
         {"TIDEFLOW_DATABASE_URL": "postgresql://tideflow@127.0.0.1:9/tideflow"},
         "error StoreUnavailable"),
        (["serve", "executor", "--port", "9"], {"TIDEFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9"},
         "error BusConnectionError"),
        (["serve", "collab", "--port", "9"],
         {"TIDEFLOW_REDIS_URL": "redis://127.0.0.1:9/0", "TIDEFLOW_COLLAB_FANOUT": "redis"},
         "error REDIS_UNAVAILABLE"),
    ],
)  # fmt: skip
def test_unreachable_dependency_is_one_line(
    args: list[str], env: dict[str, str], error: str
) -> None:
    done = subprocess.run([TIDE, *args], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **env})  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error ")] == [
        next(line for line in done.stderr.splitlines() if line.startswith(error))
    ]
    assert "tide infra up" in done.stderr
