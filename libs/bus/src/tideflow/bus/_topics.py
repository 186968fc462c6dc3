"""Topic names, derived from one configurable prefix so environments can share a cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUEUE_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


@dataclass(frozen=True, slots=True)
class Topics:
    """The names of Tideflow's topics; `Topics(prefix="t1")` gives `t1.runs`, `t1.dlq`..."""

    prefix: str = "tideflow"

    @property
    def runs(self) -> str:
        """Commands that change a run (key = run id)."""
        return f"{self.prefix}.runs"

    @property
    def events(self) -> str:
        """The public stream of run events (key = run id)."""
        return f"{self.prefix}.events"

    @property
    def dlq(self) -> str:
        """Dead letters: messages that did not decode or that a consumer rejected."""
        return f"{self.prefix}.dlq"

    def tasks(self, queue: str = "default") -> str:
        """Step executions for the workers of one task queue (key = run id)."""
        if not _QUEUE_RE.fullmatch(queue):
            raise ValueError(f"invalid task queue name {queue!r}: use letters, digits, _ and -")
        return f"{self.prefix}.tasks.{queue}"

    def task_cancels(self, queue: str = "default") -> str:
        """Cancellations of a queue's running attempts, read by EVERY worker of the queue.

        Not the task topic itself: a worker busy with a long attempt has not fetched the
        messages behind it, so a cancellation queued there would arrive too late. Each
        worker reads this topic in a group of its own (a broadcast), and the one running
        the attempt stops it.
        """
        return f"{self.tasks(queue)}.cancel"
