"""Contract suite of the `StepLogStore` port: step log lines, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    EventStore,
    LogLine,
)

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_logs_are_appended_and_followed(store: EventStore) -> None:
    stored = await store.append_logs(
        [
            LogLine("r", "a", "info", "starting"),
            LogLine("r", "b", "warning", "slow", attempt=2, ts=NOW),
            LogLine("other", "a", "info", "elsewhere"),
        ]
    )
    assert [line.id for line in stored] == sorted(line.id for line in stored)
    assert stored[1].ts == NOW
    assert [line.message for line in await store.read_logs("r")] == ["starting", "slow"]
    assert [line.message for line in await store.read_logs("r", node_id="b")] == ["slow"]
    assert [line.message for line in await store.read_logs("r", after_id=stored[0].id)] == ["slow"]
    assert [line.message for line in await store.read_logs("r", limit=1)] == ["starting"]
    assert await store.append_logs([]) == []
