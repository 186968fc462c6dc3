"""One benchmark run: for each stack, start it, print its settings, probe the limits,
then warm up and measure each selected workload."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from tidebench import _report as report
from tidebench._client import ApiClient, BenchError
from tidebench._cpu import CpuMeter, client_source, fixed, kafka_source, per_step, postgres_sources
from tidebench._probe import kafka_probe, postgres_probe
from tidebench._profile import Profiler, hottest
from tidebench._stacks import EmbeddedStack, KafkaStack, Stack, require_infra
from tidebench._workloads import (
    CHAIN_LENGTH,
    DOCUMENTS,
    W4_P99_LIMIT_S,
    Sample,
    Sizes,
    runners,
    w1_chain10,
    w4_step,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

WORKLOADS = ("W1_chain10", "W2_fanout50", "W3_latency1", "W4_sustained")
WARM_UP_FACTOR = 0.1


@dataclass(frozen=True)
class BenchOptions:
    """Everything a benchmark run depends on; all of it is printed with the results."""

    stacks: tuple[str, ...] = ("embedded", "kafka")
    workloads: tuple[str, ...] = WORKLOADS
    repetitions: int = 3
    quick: bool = False
    scale: float = 1.0
    probe: bool = True
    database_url: str = "postgresql://tideflow@127.0.0.1:15432/tideflow"
    kafka_bootstrap: str = "127.0.0.1:19092"
    executor_concurrency: int | None = None
    profile_dir: Path | None = None
    py_spy: str = "py-spy"
    w4_rates: tuple[float, ...] | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    human: TextIO = field(default_factory=lambda: sys.stderr)

    def sizes(self) -> Sizes:
        sizes = Sizes().scaled(self.scale)
        step_s = 10.0 if self.quick else sizes.w4_step_s
        rates = self.w4_rates or sizes.w4_rates
        return Sizes(sizes.w1_runs, sizes.w2_runs, sizes.w3_runs, step_s, rates)


def select(prefixes: list[str]) -> tuple[str, ...]:
    """`W1,W3` -> the workloads whose names start with those prefixes, in standard order."""
    chosen = tuple(w for w in WORKLOADS if any(w.lower().startswith(p.lower()) for p in prefixes))
    unknown = [p for p in prefixes if not any(w.lower().startswith(p.lower()) for w in WORKLOADS)]
    if unknown or not chosen:
        raise BenchError(f"unknown workloads {unknown or prefixes}; choose from {WORKLOADS}")
    return chosen


async def run_bench(options: BenchOptions) -> list[dict[str, Any]]:
    """Run every selected workload on every selected stack; returns the workload lines."""
    lines: list[dict[str, Any]] = []
    if "kafka" in options.stacks:  # before the embedded run, not after it
        await require_infra(options.database_url, options.kafka_bootstrap)
    for name in options.stacks:
        async with _stack(name, options) as stack:
            lines += await _bench_stack(stack, options)
    options.human.write("\n" + report.table(lines) + "\n")
    options.human.write("\nCPU ms per step (shared: postgres_aux, kafka)\n")
    options.human.write(report.cpu_table(lines) + "\n")
    return lines


def _stack(name: str, options: BenchOptions) -> AbstractAsyncContextManager[Stack]:
    if name == "embedded":
        return EmbeddedStack()
    if name == "kafka":
        return KafkaStack(
            admin_database_url=options.database_url,
            kafka_bootstrap=options.kafka_bootstrap,
            executor_concurrency=options.executor_concurrency,
        )
    raise BenchError(f"unknown stack {name!r}; choose embedded or kafka")


async def _bench_stack(stack: Stack, options: BenchOptions) -> list[dict[str, Any]]:
    human = options.human
    settings = await _settings(stack, options)
    report.emit(options.out, {"kind": "settings", "stack": stack.name, **settings})
    human.write(f"\n== {stack.name} stack ==\n")
    for key, value in settings.items():
        human.write(f"  {key}: {value}\n")
    if settings["postgres"]["fsync"] != "on" or settings["postgres"]["synchronous_commit"] != "on":
        raise BenchError("fsync and synchronous_commit must be on: durability is not traded")
    if options.probe:
        for probe in await _probes(stack):
            report.emit(options.out, {"kind": "limit", "stack": stack.name, **probe})
            human.write(f"  limit {probe}\n")
    client = ApiClient(stack.api_url, stack.token)
    lines: list[dict[str, Any]] = []
    try:
        for document in DOCUMENTS:
            await client.publish_workflow(document)
        sizes = options.sizes()
        table = runners()
        for workload in options.workloads:
            if workload == "W4_sustained":
                line = await _w4(client, stack, sizes, options)
            else:
                run, attribute = table[workload]
                runs = int(getattr(sizes, attribute))
                human.write(f"  {workload}: warm-up, then {options.repetitions} x {runs} runs\n")
                await run(client, max(1, round(runs * WARM_UP_FACTOR)))
                profiler = _profiler(stack, options, workload)
                samples: list[Sample] = []
                meter = cpu_meter(stack)
                load = os.getloadavg()[0]
                await meter.start()
                try:
                    samples.extend([await run(client, runs) for _ in range(options.repetitions)])
                finally:
                    if profiler is not None:
                        _report_profiles(profiler.stop(), human)
                spent = await meter.stop()
                line = report.summarize(workload, stack.name, samples)
                line["cpu_ms_per_step"] = per_step(spent, sum(s.steps for s in samples))
                line["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
            report.emit(options.out, line)
            lines.append(line)
    finally:
        await client.close()
    return lines


def cpu_meter(stack: Stack) -> CpuMeter:
    """What each process of the stack spends: services, Postgres, Kafka and this client."""
    sources = {p.name: fixed([p.pid]) for p in stack.processes}
    sources |= postgres_sources(stack.database_url)
    if stack.kafka_bootstrap:
        sources["kafka"] = kafka_source()
    sources["client"] = client_source()
    return CpuMeter(sources)


def _profiler(stack: Stack, options: BenchOptions, workload: str) -> Profiler | None:
    """Profiles every workload but W4, on either stack."""
    if options.profile_dir is None:
        return None
    profiler = Profiler(options.py_spy, options.profile_dir)
    profiler.start(stack.pids(), label=f"{workload}-{stack.name}")
    return profiler


def _report_profiles(paths: list[Path], human: TextIO) -> None:
    for path in paths:
        own, inclusive = hottest(path, top=12)
        human.write(f"  profile {path}\n    self:\n")
        human.writelines(f"      {pct:5.1f}%  {name}\n" for name, pct in own)
        human.write("    inclusive:\n")
        human.writelines(f"      {pct:5.1f}%  {name}\n" for name, pct in inclusive)


async def _w4(client: ApiClient, stack: Stack, sizes: Sizes,
              options: BenchOptions) -> dict[str, Any]:  # fmt: skip
    """Step the arrival rate up until a step's p99 exceeds 1 s (or runs fail to end)."""
    human = options.human
    await w1_chain10(client, 20)  # warm-up
    steps: list[dict[str, Any]] = []
    held: float | None = None
    for rate in sizes.w4_rates:
        human.write(f"  W4_sustained: {rate} runs/s for {sizes.w4_step_s:.0f}s\n")
        meter = cpu_meter(stack)
        await meter.start()
        try:
            sample = await w4_step(client, rate, sizes.w4_step_s)
        except BenchError as e:
            steps.append({"rate": rate, "held": False, "error": str(e)})
            break
        line = report.summarize("W4_sustained", stack.name, [sample])
        line["cpu_ms_per_step"] = per_step(await meter.stop(), sample.steps)
        ok = line["p99_ms"] <= W4_P99_LIMIT_S * 1000
        steps.append({"rate": rate, "held": ok, "offered_rate": sample.extra["offered_rate"],
                      "wall_s": line["wall_s"], "runs_per_s": line["runs_per_s"],
                      "steps_per_s": line["steps_per_s"], "p50_ms": line["p50_ms"],
                      "p99_ms": line["p99_ms"], "cpu_ms_per_step": line["cpu_ms_per_step"],
                      "load_avg_1m": round(os.getloadavg()[0], 2)})  # fmt: skip
        human.write(f"    p50 {line['p50_ms']} ms, p99 {line['p99_ms']} ms\n")
        if not ok:
            break
        held = rate
    return report.w4_line(stack.name, steps, held)


async def _settings(stack: Stack, options: BenchOptions) -> dict[str, Any]:
    from tideflow.bus import KafkaBus  # noqa: PLC0415 - only to print its defaults
    from tideflow.executor.settings import ExecutorSettings  # noqa: PLC0415
    from tideflow.scheduler.settings import SchedulerSettings  # noqa: PLC0415

    scheduler, executor = SchedulerSettings(), ExecutorSettings()
    bus = KafkaBus(bootstrap_servers=options.kafka_bootstrap)
    return {
        "postgres": await report.postgres_settings(stack.database_url),
        "services": {
            "scheduler_batch_max": scheduler.batch_max,
            "executor_concurrency": options.executor_concurrency or executor.concurrency,
            "kafka_partitions": scheduler.kafka.partitions,
            "kafka_linger_ms": bus.linger.total_seconds() * 1000,
            "kafka_fetch_max_wait_ms": scheduler.kafka.fetch_max_wait.total_seconds() * 1000,
            "kafka_acks": "all",
        },
        "stack": stack.settings,
        "workloads": {
            "repetitions": options.repetitions,
            "sizes": _sizes(options.sizes()),
            "chain_length": CHAIN_LENGTH,
            "warm_up_factor": WARM_UP_FACTOR,
        },
        "machine": _machine(),
    }


def _sizes(sizes: Sizes) -> dict[str, Any]:
    return {"w1_runs": sizes.w1_runs, "w2_runs": sizes.w2_runs, "w3_runs": sizes.w3_runs,
            "w4_step_s": sizes.w4_step_s, "w4_rates": list(sizes.w4_rates)}  # fmt: skip


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}  # fmt: skip


async def _probes(stack: Stack) -> list[dict[str, Any]]:
    probes = [await postgres_probe(stack.database_url)]
    if stack.kafka_bootstrap:
        probes.append(await kafka_probe(stack.kafka_bootstrap))
    return probes
