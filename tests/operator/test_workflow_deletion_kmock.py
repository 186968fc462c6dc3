"""Deleting a Workflow resource while its status timer is in the middle of a gateway request.

The status timer (`status.lastRun`) asks the gateway for the newest run every
`status_interval`. kopf stops a resource's timers when the resource is deleted and keeps its
finalizer until they have exited; a timer that has not exited within a few event-loop cycles
is only looked at again after `background.cancellation_polling` (60 s) or on the next watch
event. A request in flight at the moment of deletion therefore held the deletion for a minute
whenever nothing else touched the object: the flake of `test_workflow_lifecycle` on busy CI
machines, where a gateway request takes long enough to be caught in flight.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tideflow.operator.gateway import GatewayClient

from .conftest import TOKEN, Cluster, Gateway, ScriptedLag, eventually, running_operator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PROMPTLY = 10.0  # well under kopf's 60 s re-check of a timer that did not exit at once


class HeldLastRun(GatewayClient):
    """A gateway client whose last-run reads hang until `release` is set: a slow gateway."""

    def __init__(self, url: str) -> None:
        super().__init__(base_url=url, token=TOKEN, timeout=timedelta(seconds=5))
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()

    async def last_run(self, workflow_id: str) -> dict[str, Any] | None:
        self.in_flight.set()
        await self.release.wait()
        return await super().last_run(workflow_id)

    async def archive(self, workflow_id: str) -> bool:
        # the deletion is being handled: the slow read answers now (as the flaky run's did,
        # a moment after the timer was told to stop), and nothing else touches the object
        self.release.set()
        return await super().archive(workflow_id)


def published(resource: dict[str, Any] | None) -> bool:
    return bool(((resource or {}).get("status") or {}).get("publishedVersion"))


async def test_delete_while_the_status_timer_waits_for_the_gateway(
    cluster: Cluster, gateway: Gateway
) -> None:
    document = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text(encoding="utf-8"))
    document["metadata"]["namespace"] = "team-d"
    client = HeldLastRun(gateway.url)
    async with running_operator(cluster, gateway.url, ScriptedLag(), client=client):
        await cluster.apply("workflows", copy.deepcopy(document))
        await eventually(lambda: _published(cluster))
        await asyncio.wait_for(client.in_flight.wait(), PROMPTLY)  # the timer is mid-request

        await cluster.delete("workflows", "team-d", "hello")

        async def gone() -> bool:
            return await cluster.get("workflows", "team-d", "hello") is None

        await eventually(gone, timeout=PROMPTLY)
        archived = await gateway.workflow("hello")
        assert archived is not None
        assert archived["archived"] is True


async def _published(cluster: Cluster) -> bool:
    return published(await cluster.get("workflows", "team-d", "hello"))
