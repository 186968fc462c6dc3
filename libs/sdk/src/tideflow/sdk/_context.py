"""What a running task can see and do: its identity, its logger, its heartbeat.

A heartbeat says "still alive, still making progress". The executor watches it when the
`function` node sets `heartbeatTimeout` (an attempt that stays silent longer fails with
`HeartbeatTimeout` and is retried), and answers it: once the attempt was cancelled (the
run was cancelled, the step timed out, the heartbeat timed out), `heartbeat()` raises
`TaskCancelledError`. That is how synchronous code, which runs in a worker thread that
nothing can interrupt, learns that it should stop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tideflow.sdk._errors import TaskCancelledError

TASK_LOGGER = "tideflow.task"
"""Lines a task logs here (through `ctx.logger`) become its step's log lines."""


class Heartbeats:
    """The liveness of one attempt, shared by the task (any thread) and its executor.

    Plain attribute reads and writes are atomic under the GIL; the cancel flag is a
    `threading.Event` so a thread sees it the moment the event loop sets it.
    """

    __slots__ = ("_cancelled", "_reason", "count", "details", "last")

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.details: Any = None
        self.count = 0
        self._cancelled = threading.Event()
        self._reason = ""

    def beat(self, details: Any = None) -> None:
        """Record a heartbeat; raise `TaskCancelledError` once the attempt was cancelled."""
        if self._cancelled.is_set():
            raise TaskCancelledError(self._reason)
        self.last = time.monotonic()
        self.count += 1
        if details is not None:
            self.details = details

    def silent_for(self) -> float:
        """Seconds since the last heartbeat (or since the attempt started)."""
        return time.monotonic() - self.last

    def cancel(self, reason: str) -> None:
        """Make every later `beat` raise: the attempt is over, whatever the task does."""
        self._reason = reason
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task may want to know about the step it runs for (pass a `ctx` parameter)."""

    run_id: str
    node_id: str
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(TASK_LOGGER))
    heartbeats: Heartbeats = field(default_factory=Heartbeats, repr=False, compare=False)

    def heartbeat(self, details: Any = None) -> None:
        """Tell the executor the task is alive (and how far it got, as JSON `details`).

        Raises `TaskCancelledError` when the attempt was cancelled: stop and let it
        propagate. Cheap enough to call in every iteration of a loop.
        """
        self.heartbeats.beat(details)

    @property
    def cancelled(self) -> bool:
        """Whether the attempt was cancelled (a task may poll this instead of heartbeating)."""
        return self.heartbeats.cancelled
