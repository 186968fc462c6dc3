"""Contract suite of the `CommandKeys` port: a keyed command's first claim holds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import EventStore

from .test_contract_retention import finished_run

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


async def test_the_first_claim_of_a_command_id_holds(store: EventStore) -> None:
    await store.commit_batch(finished_run("r1", None))
    assert await store.find_command_key("r1:signal:go:k") is None
    first = await store.claim_command_key("r1:signal:go:k", "r1", "d1")
    assert (first.created, first.sent, first.digest) == (True, False, "d1")
    again = await store.claim_command_key("r1:signal:go:k", "r1", "d2")
    assert (again.created, again.sent, again.digest) == (False, False, "d1")
    await store.mark_command_sent("r1:signal:go:k")
    sent = await store.claim_command_key("r1:signal:go:k", "r1", "d1")
    assert (sent.created, sent.sent) == (False, True)
    found = await store.find_command_key("r1:signal:go:k")
    assert found is not None
    assert (found.digest, found.sent, found.created) == ("d1", True, False)
    assert await store.find_command_key("r1:signal:go:k", tenant_id="other") is None


async def test_concurrent_claims_agree_on_one_winner(store: EventStore) -> None:
    await store.commit_batch(finished_run("r2", None))
    claims = await asyncio.gather(
        *(store.claim_command_key("r2:signal:go:k", "r2", f"d{i}") for i in range(6))
    )
    assert sum(c.created for c in claims) == 1
    assert len({c.digest for c in claims}) == 1


async def test_a_purged_run_takes_its_command_keys_along(store: EventStore) -> None:
    await store.commit_batch(finished_run("old", NOW - timedelta(days=100)))
    await store.claim_command_key("old:signal:go:k", "old", "d1")
    assert await store.purge_runs_older_than(NOW - timedelta(days=90)) == 1
    await store.commit_batch(finished_run("old", None))
    assert (await store.claim_command_key("old:signal:go:k", "old", "d2")).created
