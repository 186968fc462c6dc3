"""One event the inbox cannot record never stalls the inbox.

The inbox consumer retried a failing batch without bound: one event on the stream that
the store refuses (here an approval title holding a NUL character, which Postgres cannot
store) stopped every later approval from reaching the inbox, for good. Like the
scheduler's, the loop now isolates the message after a few failures and dead-letters it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.approval.app import run_inbox, services_of
from tideflow.approval.settings import ApprovalSettings
from tideflow.bus import InMemoryBus, Outgoing, new_envelope, payload_of, pb
from tideflow.store import APP_ROLE, ApprovalFilter, PostgresApprovalStore

pytestmark = pytest.mark.integration


def requested(run_id: str, title: str) -> Outgoing:
    event = pb.RunEvent(
        run_id=run_id, seq=3, type="ApprovalRequested", workflow_id="wf", workflow_version=1,
        data_json=json.dumps({"step": "ask", "attempt": 1, "config": {"title": title}}).encode(),
    )  # fmt: skip
    event.recorded_at.FromDatetime(datetime.now(UTC))
    envelope = new_envelope(event, tenant_id="default", run_id=run_id,
                            message_id=f"{run_id}:3")  # fmt: skip
    return Outgoing("tideflow.events", run_id, envelope)


async def test_an_event_the_store_refuses_is_dead_lettered_and_the_inbox_goes_on(
    dsn: str,
) -> None:
    store = await PostgresApprovalStore.connect(dsn, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    settings = ApprovalSettings(inbox_retry_delay=timedelta(milliseconds=10))
    services = services_of(settings=settings, store=store, bus=bus)
    stop = asyncio.Event()
    inbox = asyncio.create_task(run_inbox(services, stop))
    poison, good = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        await bus.publish_batch([requested(poison, "a\x00b"), requested(good, "fine")])
        deadline = time.monotonic() + 30
        while True:
            page = await store.list_approvals(ApprovalFilter(run_id=good), limit=5)
            if page.items:
                break
            assert time.monotonic() < deadline, "the good approval never reached the inbox"
            await asyncio.sleep(0.05)
        assert page.items[0].title == "fine"
        async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
            batch = await dlq.next_batch(max_wait=timedelta(seconds=5))
            assert batch is not None
            letters = [payload_of(m.envelope) for m in batch]
        assert all(isinstance(letter, pb.DeadLetter) for letter in letters)
        assert [letter.original_key for letter in letters] == [poison.encode()]  # type: ignore[union-attr]
    finally:
        stop.set()
        await inbox
        await bus.close()
        await store.close()
