"""The garbage collector of a long-running service, tuned once at start.

A workflow engine allocates many short-lived objects per step (messages, events, rows),
nearly all freed by reference counting; with Python's default thresholds (700, 10, 10)
the cyclic collector still ran thousands of young and dozens of full collections per
benchmark, a third of the scheduler's CPU (`bench/hot_path.py`: chain10 1.03 -> 0.73,
fanout50 1.05 -> 0.63 CPU ms per step). Freezing what start-up created (modules, schemas,
settings) keeps it out of every later full collection; higher thresholds make young
collections rarer. Cycles are still collected, just less often.
"""

from __future__ import annotations

import gc


def tune_collector(thresholds: tuple[int, int, int]) -> None:
    """Freeze what exists now, then collect with `thresholds` (see `gc.set_threshold`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
