"""The Tideflow benchmark harness behind `tide bench` (issue 6's standard workloads).

Run it from a source checkout: `tide bench --stack embedded|kafka --workloads W1,W3`.
"""

from tidebench._client import BenchError
from tidebench._run import WORKLOADS, BenchOptions, run_bench, select

__all__ = ["WORKLOADS", "BenchError", "BenchOptions", "run_bench", "select"]
