"""Published StartRuns' outbox rows are deleted in batches: one delete at a time, taking
every id that arrived meanwhile; a failed delete is logged and the rows left to the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from tideflow.store import OutboxDrops, StoreUnavailable

pytestmark = pytest.mark.unit


class SlowStore:
    def __init__(self) -> None:
        self.deletes: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def delete_outbox(self, ids: Collection[int]) -> None:
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailable("down")
        self.deletes.append(sorted(ids))


async def test_ids_that_arrive_during_a_delete_share_the_next_one() -> None:
    store = SlowStore()
    drops = OutboxDrops(store)  # type: ignore[arg-type]
    drops.add([1])
    await asyncio.sleep(0)
    deleting = drops._deleting
    for i in range(2, 40):
        drops.add([i])  # while the first delete waits
        assert drops._deleting is deleting
    store.release.set()
    await drops.drain()
    assert store.deletes == [[1], list(range(2, 40))]


async def test_a_failed_delete_is_left_to_the_relay_and_later_ids_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SlowStore()
    store.release.set()
    store.fail_next = True
    drops = OutboxDrops(store)  # type: ignore[arg-type]
    drops.add([1, 2])
    await drops.drain()
    assert "could not delete 2 sent outbox rows" in caplog.text
    drops.add([3])
    await drops.drain()
    assert store.deletes == [[3]]
