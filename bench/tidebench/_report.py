"""Figures: percentiles, medians over repetitions, JSON lines and the human table."""

from __future__ import annotations

import json
import math
from statistics import median
from typing import TYPE_CHECKING, Any, TextIO

import asyncpg

if TYPE_CHECKING:
    from tidebench._workloads import Sample

POSTGRES_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                     "wal_sync_method", "shared_buffers", "max_connections")  # fmt: skip


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 50 values is the largest but none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(workload: str, stack: str, samples: list[Sample]) -> dict[str, Any]:
    """Median over repetitions of each figure (each repetition's own p50/p99)."""

    def med(values: list[float]) -> float:
        return float(median(values))

    line: dict[str, Any] = {
        "workload": workload,
        "stack": stack,
        "wall_s": round(med([s.wall_s for s in samples]), 3),
        "runs_per_s": round(med([s.runs / s.wall_s for s in samples]), 1),
        "steps_per_s": round(med([s.steps / s.wall_s for s in samples]), 1),
        "p50_ms": round(med([percentile(s.latencies_s, 50) for s in samples]) * 1000, 1),
        "p99_ms": round(med([percentile(s.latencies_s, 99) for s in samples]) * 1000, 1),
        "runs": samples[0].runs,
        "steps": samples[0].steps,
        "repetitions": len(samples),
        "each_steps_per_s": [round(s.steps / s.wall_s, 1) for s in samples],
    }
    return line


def w4_line(stack: str, steps: list[dict[str, Any]], held: float | None) -> dict[str, Any]:
    """W4's line: the highest arrival rate held (p99 <= 1 s) and the figures of every step."""
    best = next((s for s in steps if s["rate"] == held), None)
    return {
        "workload": "W4_sustained",
        "stack": stack,
        "rate_held_runs_per_s": held,
        "wall_s": best["wall_s"] if best else None,
        "runs_per_s": best["runs_per_s"] if best else None,
        "steps_per_s": best["steps_per_s"] if best else None,
        "p50_ms": best["p50_ms"] if best else None,
        "p99_ms": best["p99_ms"] if best else None,
        "cpu_ms_per_step": best["cpu_ms_per_step"] if best else {},
        "steps": steps,
    }


async def postgres_settings(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        return {name: str(await connection.fetchval(f"SHOW {name}")) for name in POSTGRES_SETTINGS}
    finally:
        await connection.close()


def emit(out: TextIO, line: dict[str, Any]) -> None:
    out.write(json.dumps(line, default=str) + "\n")
    out.flush()


def table(lines: list[dict[str, Any]]) -> str:
    """The results as an aligned text table, one row per workload and stack."""
    header = ("workload", "stack", "wall_s", "runs/s", "steps/s", "p50 ms", "p99 ms", "note")
    rows: list[tuple[str, ...]] = [header]
    for line in lines:
        note = ""
        if line["workload"] == "W4_sustained":
            note = f"held {line['rate_held_runs_per_s']} runs/s"
        rows.append(tuple(str(v) for v in (
            line["workload"], line["stack"], line["wall_s"], line["runs_per_s"],
            line["steps_per_s"], line["p50_ms"], line["p99_ms"], note)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


CPU_GROUPS = ("gateway", "scheduler", "executor", "dev", "postgres", "postgres_aux", "kafka",
              "client", "total")  # fmt: skip


def cpu_table(lines: list[dict[str, Any]]) -> str:
    """CPU milliseconds per step of each process group, one row per workload and stack."""
    present = [g for g in CPU_GROUPS if any(g in line.get("cpu_ms_per_step", {}) for line in lines)]
    rows: list[tuple[str, ...]] = [("workload", "stack", *present)]
    for line in lines:
        cpu = line.get("cpu_ms_per_step", {})
        rows.append((line["workload"], line["stack"],
                     *(f"{cpu[g]:.3f}" if g in cpu else "-" for g in present)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)
