"""Sampling profiles of the service processes while a workload runs (py-spy).

py-spy attaches to a running process from outside, so the services run exactly as they
do in production, with no profiler hooks in their code. `record --format raw` writes
collapsed stacks; `hottest` turns them into the functions that own the most samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidebench._client import BenchError

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Profiler:
    """py-spy recorders attached to some PIDs; stop() makes them write their files."""

    py_spy: str
    folder: Path
    recorders: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, pids: dict[str, int], *, label: str, rate: int = 250) -> None:
        exe = shutil.which(self.py_spy) or self.py_spy
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            out = self.folder / f"{label}-{name}.txt"
            popen = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--gil",
                 "--output", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            self.recorders.append((popen, out))

    def stop(self) -> list[Path]:
        written = []
        for popen, out in self.recorders:
            if popen.poll() is None:
                popen.send_signal(signal.SIGINT)
            try:
                _, err = popen.communicate(timeout=60)
            except subprocess.TimeoutExpired as e:
                popen.kill()
                raise BenchError(f"py-spy did not stop for {out.name}") from e
            if not out.exists():
                raise BenchError(f"py-spy wrote no {out.name}: {err.decode()[-300:]}")
            written.append(out)
        self.recorders.clear()
        return written


def hottest(
    path: Path, *, top: int = 15
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(self %, inclusive %) of the top functions in a py-spy raw (collapsed) file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return [], []

    def pct(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return pct(own), pct(inclusive)


def _short(frame: str) -> str:
    """`decide (tideflow/core/_decide.py:12)` -> `decide (tideflow/core/_decide.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name
