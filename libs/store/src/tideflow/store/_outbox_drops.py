"""Outbox rows whose messages went out, deleted together instead of one commit each.

Deleting a sent row is cleanup (the relay would only publish it again, and consumers drop
a repeated message), yet a DELETE per start (gateway) or per batch (scheduler, where it
also held up the next batch) is a commit, and an fsync, each. Ids gather here; one delete
at a time takes all of them, in the background, so the writers that finish while a
delete is in flight share the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tideflow.store._errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Collection

    from tideflow.store._port import OutboxStore

log = logging.getLogger(__name__)


class OutboxDrops:
    """`add` the ids of sent rows; `drain` (at shutdown) waits until they are deleted."""

    def __init__(self, store: OutboxStore) -> None:
        self._store = store
        self._pending: list[int] = []
        self._deleting: asyncio.Task[None] | None = None

    def add(self, outbox_ids: Collection[int]) -> None:
        self._pending.extend(outbox_ids)
        if self._deleting is None and self._pending:
            self._deleting = asyncio.create_task(self._delete_all(), name="outbox-drops")

    async def drain(self) -> None:
        while self._deleting is not None:
            await asyncio.shield(self._deleting)

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
            self._deleting = None
