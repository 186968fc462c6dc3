"""How long `tide` takes to answer: `.venv/bin/python bench/cli_startup.py`.

Each command runs `--runs` times as a fresh process (what a person typing it waits for);
the best and the median wall-clock times are printed, and the median CPU time (user +
system), which other load on the machine skews least, next to a bare interpreter start
as the floor. Client commands point at a closed port so they measure the CLI, not a
server. `tide` is the one next to this interpreter (`.venv/bin/tide`).
"""

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIDE = str(Path(sys.executable).with_name("tide"))
UNREACHABLE = "http://127.0.0.1:9"

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
    ("tide --help", [TIDE, "--help"]),
    ("tide run --help", [TIDE, "run", "--help"]),
    ("tide run list (no server)", [TIDE, "run", "list", "--url", UNREACHABLE]),
    ("tide workflow list (no server)", [TIDE, "workflow", "list", "--url", UNREACHABLE]),
    ("tide workflow validate", [TIDE, "workflow", "validate", "-f", "examples/hello.yaml"]),
    ("tide infra env", [TIDE, "infra", "env"]),
]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"{'command':32} {'best s':>7} {'median s':>9} {'cpu s':>7}   ({args.runs} runs each)")
    for name, command in COMMANDS:
        runs = [timed(command) for _ in range(args.runs)]
        wall = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:32} {min(wall):7.3f} {statistics.median(wall):9.3f} {cpu:7.3f}")


if __name__ == "__main__":
    main()
