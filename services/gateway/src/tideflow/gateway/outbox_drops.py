"""Outbox rows whose StartRun went out, deleted together instead of one commit each.

Deleting a row is cleanup (the relay would only publish it again, and the scheduler
drops a repeated StartRun), yet a DELETE per start is a commit, and an fsync, per start.
Ids gather here; one delete at a time takes all of them, so starts that finish while a
delete is in flight share the next one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tideflow.store import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

    from tideflow.store import OutboxStore

log = logging.getLogger(__name__)


class OutboxDrops:
    """`add` the ids of published rows; `spawn` runs the deleting task (and is drained at
    shutdown, so what was added is deleted before the process ends)."""

    def __init__(
        self, store: OutboxStore, spawn: Callable[[Coroutine[Any, Any, None]], None]
    ) -> None:
        self._store = store
        self._spawn = spawn
        self._pending: list[int] = []
        self._deleting = False

    def add(self, outbox_ids: list[int]) -> None:
        self._pending.extend(outbox_ids)
        if not self._deleting and self._pending:
            self._deleting = True
            self._spawn(self._delete_all())

    async def _delete_all(self) -> None:
        try:
            while self._pending:
                ids, self._pending = self._pending, []
                try:
                    await self._store.delete_outbox(ids)
                except StoreError:
                    log.warning("could not delete %d sent outbox rows; relayed again later",
                                len(ids))  # fmt: skip
        finally:
            self._deleting = False
