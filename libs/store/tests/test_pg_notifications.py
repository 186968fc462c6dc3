"""The store's listening connection lost (the server ended it): its waiters are woken,
and a new connection listens for those still waiting without anyone joining again."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tideflow.store import ApiTokenRecord, PostgresEventStore, credential_key

from .test_contract_identities import T0

pytestmark = pytest.mark.integration


async def test_a_lost_listener_is_replaced_for_the_waiters(
    pg_store: PostgresEventStore, owner: asyncpg.Connection
) -> None:
    for token_id in ("a", "b"):
        await pg_store.create_api_token(
            ApiTokenRecord(token_id, "default", f"bot-{token_id}", "editor", "h", "t", T0)
        )
    async with (
        pg_store.watch_credential(credential_key("token", "a")) as a,
        pg_store.watch_credential(credential_key("token", "b")) as b,
    ):
        ended = await owner.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert ended == 1
        await asyncio.wait_for(asyncio.gather(a.wait(), b.wait()), 10)  # read again
        a.clear()
        b.clear()
        # listening again on its own: the waiters are woken once more when it does
        await asyncio.wait_for(b.wait(), 10)
        a.clear()
        b.clear()
        await pg_store.revoke_api_token("a", tenant_id="default", at=T0)
        await asyncio.wait_for(a.wait(), 10)
        assert not b.is_set()
