"""Outbox rows whose messages went out, deleted by the writer's next commit.

Deleting a sent row is cleanup (the relay would only publish it again, and consumers drop
a repeated message), yet a DELETE per start (gateway) or per batch (scheduler) is a
transaction, and an fsync, of its own. So the sent rows wait here: the writer's next
commit `take`s them and deletes them in its own statement (`CommitBatch.sent_outbox`),
and only rows no commit took within `linger` are deleted on their own, all together, in
the background. Rows are inserted claimed for far longer than the linger, so no relay
publishes them again meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from tideflow.store._errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tideflow.store._port import OutboxStore
    from tideflow.store._records import SentOutbox

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.25
"""How long sent rows wait for a commit to take them before they are deleted alone: a
busy writer commits far more often, an idle one leaves them a quarter second longer."""


class OutboxDrops:
    """`add` the sent rows; the next commit `take`s them, else they are deleted after
    `linger`; `drain` (at shutdown) deletes what is left at once."""

    def __init__(self, store: OutboxStore, *, linger: float | None = None) -> None:
        self._store = store
        self._linger = LINGER_SECONDS if linger is None else linger
        self._pending: dict[int, SentOutbox] = {}
        self._deleting: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    def add(self, rows: Iterable[SentOutbox]) -> None:
        """Rows whose messages went out (or rows a failed commit `take` gives back)."""
        for row in rows:
            self._pending[row.id] = row
        if self._deleting is None and self._pending:
            self._deleting = asyncio.create_task(self._delete_left(), name="outbox-drops")

    def take(self, tenant_id: str | None = None) -> list[SentOutbox]:
        """The pending rows (of one tenant: a commit scoped to it can only delete those),
        for the caller's commit to delete; give them back with `add` if it fails."""
        if tenant_id is None:
            taken = list(self._pending.values())
            self._pending.clear()
            return taken
        taken = [row for row in self._pending.values() if row.tenant_id == tenant_id]
        for row in taken:
            del self._pending[row.id]
        return taken

    async def drain(self) -> None:
        """Delete every pending row now."""
        self._hurry.set()
        try:
            while self._deleting is not None:
                await asyncio.shield(self._deleting)
        finally:
            self._hurry.clear()

    async def _delete_left(self) -> None:
        try:
            while self._pending:
                if not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), self._linger)
                ids, self._pending = list(self._pending), {}
                if not ids:
                    return
                try:
                    await self._store.delete_outbox(ids)
                except StoreError:
                    log.warning("could not delete %d sent outbox rows; relayed again later",
                                len(ids))  # fmt: skip
        finally:
            self._deleting = None
