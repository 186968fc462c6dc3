"""Contract suite of the `OutboxStore` port: messages claimed, published, deleted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    CommitBatch,
    ConcurrencyConflict,
    EventStore,
    NewEvent,
    OutboxMessage,
    RunAppend,
    SentOutbox,
)

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_outbox_claim_publish_delete(store: EventStore) -> None:
    messages = [
        OutboxMessage("tideflow.runs", f"m{i}".encode(), key=b"run", headers=(("h", b"v"),))
        for i in range(5)
    ]
    result = await store.commit_batch(CommitBatch(outbox=messages))
    first = await store.claim_outbox(3)
    assert [m.payload for m in first] == [b"m0", b"m1", b"m2"]
    assert first[0].headers == (("h", b"v"),)
    assert first[0].key == b"run"
    assert first[0].topic == "tideflow.runs"
    second = await store.claim_outbox(10)
    assert [m.payload for m in second] == [b"m3", b"m4"]
    assert await store.claim_outbox(10) == []
    await store.delete_outbox([m.id for m in first + second])
    await store.delete_outbox([])
    assert sorted(m.id for m in first + second) == result.outbox_ids


async def test_expired_outbox_claims_are_handed_out_again(store: EventStore) -> None:
    await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"x")]))
    [claimed] = await store.claim_outbox(10, lease=timedelta(0))
    [again] = await store.claim_outbox(10)
    assert again.id == claimed.id


async def test_outbox_rows_claimed_by_the_committer_wait_for_their_lease(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", b"mine")], outbox_claimed_for=timedelta(minutes=5))
    )
    await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"orphan")]))
    assert [m.payload for m in await store.claim_outbox(10)] == [b"orphan"]


async def test_concurrent_relays_never_share_an_outbox_row(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", str(i).encode()) for i in range(120)])
    )

    async def relay() -> list[int]:
        mine: list[int] = []
        while batch := await store.claim_outbox(7):
            mine += [m.id for m in batch]
        return mine

    claimed = await asyncio.gather(*(relay() for _ in range(4)))
    every = [i for ids in claimed for i in ids]
    assert len(every) == 120
    assert len(set(every)) == 120


async def test_a_commit_deletes_the_sent_rows_it_carries(store: EventStore) -> None:
    sent = await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", b"a"), OutboxMessage("t", b"b", tenant_id="acme")])
    )
    kept = await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"kept")]))
    rows = [
        SentOutbox(sent.outbox_ids[0]),
        SentOutbox(sent.outbox_ids[1], "acme"),
        SentOutbox(sent.outbox_ids[1], "acme"),  # given twice: deleted once
    ]
    await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"new")], sent_outbox=rows))
    assert [m.payload for m in await store.claim_outbox(10)] == [b"kept", b"new"]
    assert kept.outbox_ids


async def test_a_commit_that_conflicts_deletes_no_sent_row(store: EventStore) -> None:
    sent = await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"sent")]))
    await store.append("run-1", 0, [NewEvent("RunStarted", {})])
    with pytest.raises(ConcurrencyConflict):
        await store.commit_batch(
            CommitBatch(
                appends=[RunAppend("run-1", 0, [NewEvent("RunStarted", {})])],
                sent_outbox=[SentOutbox(sent.outbox_ids[0])],
            )
        )
    assert [m.payload for m in await store.claim_outbox(10)] == [b"sent"]


async def test_a_commit_of_one_tenant_deletes_that_tenants_sent_rows(store: EventStore) -> None:
    """The gateway's starts: each commit is scoped to its tenant (row-level security)."""
    sent = await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", b"sent", tenant_id="acme")])
    )
    await store.commit_batch(
        CommitBatch(
            outbox=[OutboxMessage("t", b"new", tenant_id="acme")],
            sent_outbox=[SentOutbox(sent.outbox_ids[0], "acme")],
        )
    )
    assert [m.payload for m in await store.claim_outbox(10)] == [b"new"]
