"""The harness itself, briefly: `tide bench` on the embedded default with tiny counts.

It checks the shape of what the benchmark prints (the contract of its JSON lines), never
how fast anything was: figures belong in docs/performance.md, not in assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TIDE = str(Path(sys.executable).with_name("tide"))
WORKLOAD_KEYS = {"workload", "stack", "wall_s", "runs_per_s", "steps_per_s", "p50_ms", "p99_ms"}


def test_tide_bench_prints_one_json_line_per_workload_and_the_settings() -> None:
    done = subprocess.run(
        [TIDE, "bench", "--stack", "embedded", "--workloads", "W3", "--quick",
         "--scale", "0.1", "--repetitions", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    workloads = [line for line in lines if "workload" in line]
    assert [w["workload"] for w in workloads] == ["W3_latency1"]
    (w3,) = workloads
    assert w3.keys() >= WORKLOAD_KEYS
    assert w3["stack"] == "embedded"
    assert w3["runs"] == 5
    assert w3["steps"] == 5
    assert all(
        isinstance(w3[k], float | int) and w3[k] > 0 for k in WORKLOAD_KEYS - {"workload", "stack"}
    )
    assert w3["p50_ms"] <= w3["p99_ms"]
    cpu = w3["cpu_ms_per_step"]  # every process of the stack has its CPU budget per step
    assert cpu.keys() == {"dev", "postgres", "postgres_aux", "client", "total"}
    assert cpu["dev"] > 0
    assert cpu["postgres"] > 0  # the embedded server's backends did the durable writes
    assert cpu["total"] >= cpu["dev"] + cpu["postgres"]
    assert "CPU ms per step" in done.stderr
    (settings,) = [line for line in lines if line.get("kind") == "settings"]
    assert settings["postgres"]["fsync"] == "on"
    assert settings["postgres"]["synchronous_commit"] == "on"
    probes = {line["probe"]: line for line in lines if line.get("kind") == "limit"}
    assert set(probes) == {"postgres"}  # no Kafka in the embedded default
    assert probes["postgres"]["commit_p50_ms"] > 0
    assert "W3_latency1" in done.stderr  # the human table


@pytest.mark.parametrize(
    ("stacks", "env", "missing"),
    [
        (["--stack", "kafka"], {"TIDEFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "needs Kafka"),
        (["--stack", "kafka"],
         {"TIDEFLOW_DATABASE_URL": "postgresql://tideflow@127.0.0.1:9/tideflow"},
         "needs Postgres"),
        ([], {"TIDEFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "needs Kafka"),  # before embedded
    ],
)  # fmt: skip
def test_kafka_stack_without_infra_ends_in_one_sentence(
    stacks: list[str], env: dict[str, str], missing: str
) -> None:
    done = subprocess.run(
        [TIDE, "bench", *stacks, "--workloads", "W3", "--scale", "0.1", "--repetitions", "1"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert missing in line
    assert "tide infra up" in line
