"""Waiting for a run to end without polling: who waits for which run, and who wakes them.

`GET /runs/{id}?wait=` registers here *before* it reads the run (so an end between the
read and the wait is not missed), answers at once when the run has already ended, and
otherwise sleeps until the store sees the run end or the wait is over. The Postgres store
learns of ends from `NOTIFY tideflow_run_ended` (a trigger of migration 0014 fires it when a
run's row turns terminal, delivered at commit, whichever process wrote it); the in-memory
store from its own commits.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

RUN_ENDED_CHANNEL = "tideflow_run_ended"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "compensated"})


class RunEndWaiters:
    """The events of the requests waiting for each run; set when that run ends."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def register(self, run_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting.get(run_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiting[run_id]

    def ended(self, run_id: str) -> None:
        for event in self._waiting.get(run_id, ()):
            event.set()

    def wake_all(self) -> None:
        """Wake every waiter (they read the run again): the source of ends was lost."""
        for waiting in self._waiting.values():
            for event in waiting:
                event.set()

    def __len__(self) -> int:
        return sum(len(w) for w in self._waiting.values())
