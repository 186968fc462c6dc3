"""Sent outbox rows wait for the writer's next commit to take them (and delete them in its
transaction); the rows no commit takes within the linger are deleted together, in the
background; a failed delete is logged and the rows left to the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from tideflow.store import OutboxDrops, SentOutbox, StoreUnavailable

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


def rows(*ids: int, tenant: str = "default") -> list[SentOutbox]:
    return [SentOutbox(i, tenant) for i in ids]


async def test_rows_no_commit_takes_are_deleted_together_after_the_linger() -> None:
    store = SlowStore()
    store.release.set()
    drops = OutboxDrops(store, linger=0.05)  # type: ignore[arg-type]
    drops.add(rows(1))
    drops.add(rows(2, 3))
    await asyncio.sleep(0.01)
    assert store.deletes == []  # still lingering for a commit
    async with asyncio.timeout(5):
        while not store.deletes:
            await asyncio.sleep(0.01)
    assert store.deletes == [[1, 2, 3]]


async def test_a_commit_takes_the_rows_and_nothing_is_deleted_on_its_own() -> None:
    store = SlowStore()
    store.release.set()
    drops = OutboxDrops(store, linger=0.05)  # type: ignore[arg-type]
    drops.add(rows(1, 2))
    assert [r.id for r in drops.take()] == [1, 2]
    assert drops.take() == []
    await asyncio.sleep(0.1)
    await drops.drain()
    assert store.deletes == []


async def test_a_tenant_scoped_commit_takes_only_its_tenants_rows() -> None:
    store = SlowStore()
    store.release.set()
    drops = OutboxDrops(store, linger=60)  # type: ignore[arg-type]
    drops.add([*rows(1, tenant="acme"), *rows(2, tenant="globex"), *rows(3, tenant="acme")])
    assert [r.id for r in drops.take("acme")] == [1, 3]
    await drops.drain()  # shutdown does not wait for the linger
    assert store.deletes == [[2]]


async def test_rows_a_failed_commit_gives_back_are_deleted_later() -> None:
    store = SlowStore()
    store.release.set()
    drops = OutboxDrops(store, linger=60)  # type: ignore[arg-type]
    drops.add(rows(1))
    taken = drops.take()
    drops.add(taken)  # the commit that took them rolled back
    await drops.drain()
    assert store.deletes == [[1]]


async def test_rows_that_arrive_during_a_delete_share_the_next_one() -> None:
    store = SlowStore()
    drops = OutboxDrops(store, linger=0)  # type: ignore[arg-type]
    drops.add(rows(1))
    await asyncio.sleep(0.01)
    deleting = drops._deleting
    for i in range(2, 40):
        drops.add(rows(i))  # while the first delete waits
        assert drops._deleting is deleting
    store.release.set()
    await drops.drain()
    assert store.deletes == [[1], list(range(2, 40))]


async def test_a_failed_delete_is_left_to_the_relay_and_later_rows_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SlowStore()
    store.release.set()
    store.fail_next = True
    drops = OutboxDrops(store)  # type: ignore[arg-type]
    drops.add(rows(1, 2))
    await drops.drain()
    assert "could not delete 2 sent outbox rows" in caplog.text
    drops.add(rows(3))
    await drops.drain()
    assert store.deletes == [[3]]
