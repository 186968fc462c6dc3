"""`tide bench`: the standard workloads on the embedded default and the full stack.

The harness lives in the repository's `bench/` folder (with the step functions the
executors load), so it runs from a source checkout; `TIDEFLOW_BENCH_DIR` points elsewhere.
JSON lines go to stdout (one per workload, plus the settings and the limit probes), the
human-readable settings, progress and table to stderr.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

# cli/src/tideflow/cli/bench.py -> the repository root is four folders up from `cli`
DEFAULT_BENCH_DIR = Path(__file__).resolve().parents[4] / "bench"


def _harness() -> Any:
    """Import `tidebench` from the bench folder (and make it importable by the services)."""
    folder = Path(os.environ.get("TIDEFLOW_BENCH_DIR", DEFAULT_BENCH_DIR))
    if not (folder / "tidebench").is_dir():
        typer.secho(f"no benchmark harness in {folder}; set TIDEFLOW_BENCH_DIR", err=True,
                    fg=typer.colors.RED)  # fmt: skip
        raise typer.Exit(code=2)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("tidebench")


def bench(
    stack: Annotated[
        str, typer.Option(help="embedded, kafka, or both (comma-separated).")
    ] = "embedded,kafka",
    workloads: Annotated[
        str, typer.Option(help="Comma-separated prefixes: W1,W2,W3,W4.")
    ] = "W1,W2,W3,W4",
    repetitions: Annotated[int, typer.Option(min=1, help="Measured repetitions.")] = 3,
    quick: Annotated[bool, typer.Option(help="W4 steps of 10 s instead of 60 s.")] = False,
    scale: Annotated[
        float, typer.Option(min=0.001, help="Multiply every run count (smoke tests).")
    ] = 1.0,
    probe: Annotated[bool, typer.Option(help="Measure raw Postgres and Kafka limits.")] = True,
    concurrency: Annotated[
        int | None, typer.Option(help="Executor concurrency (default: the service's).")
    ] = None,
    w4_rates: Annotated[
        str | None, typer.Option(help="W4 arrival rates to step through, runs/s.")
    ] = None,
    profile: Annotated[
        Path | None, typer.Option(help="Write py-spy profiles (GIL samples) of W1-W3 here.")
    ] = None,
    py_spy: Annotated[str, typer.Option(help="The py-spy executable.")] = "py-spy",
) -> None:
    """Run the benchmark workloads and print one JSON line per workload."""
    from tideflow.settings import DatabaseSettings, KafkaSettings

    tidebench = _harness()
    try:
        options = tidebench.BenchOptions(
            stacks=tuple(s.strip() for s in stack.split(",") if s.strip()),
            workloads=tidebench.select([w.strip() for w in workloads.split(",") if w.strip()]),
            repetitions=repetitions,
            quick=quick,
            scale=scale,
            probe=probe,
            database_url=DatabaseSettings().url,
            kafka_bootstrap=KafkaSettings().bootstrap,
            executor_concurrency=concurrency,
            profile_dir=profile,
            py_spy=py_spy,
            w4_rates=tuple(float(r) for r in w4_rates.split(",")) if w4_rates else None,
        )
        asyncio.run(tidebench.run_bench(options))
    except tidebench.BenchError as e:
        typer.secho(f"benchmark failed: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
