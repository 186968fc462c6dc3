"""Waiting for a run to end without polling: who waits for which run, and who wakes them.

`GET /runs/{id}?wait=` registers here *before* it reads the run (so an end between the
read and the wait is not missed), answers at once when the run has already ended, and
otherwise sleeps until the store sees the run end or the wait is over. The Postgres store
learns of ends from `NOTIFY tideflow_run_ended` (a trigger of migration 0014 fires it when a
run's row turns terminal, delivered at commit, whichever process wrote it); the in-memory
store from its own commits.
"""

from __future__ import annotations

from tideflow.store._keyed_events import KeyedEvents

RUN_ENDED_CHANNEL = "tideflow_run_ended"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "compensated"})


class RunEndWaiters(KeyedEvents):
    """The events of the requests waiting for each run; set when that run ends."""

    def ended(self, run_id: str) -> None:
        self.notify(run_id)
