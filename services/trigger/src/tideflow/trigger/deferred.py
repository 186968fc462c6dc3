"""Deferred event-trigger starts: sent as their tenants' run-start buckets refill.

An event message whose tenant is over its run-start limit parks its run and StartRun
(`TriggeredRun.deferred`) so the message's batch, and every other tenant's messages behind
it on the topic, go on. This loop looks at each tenant with parked starts, claims its
oldest ones, takes a token per start until the bucket is empty, and records the started
ones' runs with their outbox rows in one transaction (the rest wait for as long as the
bucket said). Then it sends them; if it dies first, the scheduler's outbox relay does.
A start is recorded once whatever crashes (one transaction, keyed by the run's
idempotency key; replicas skip each other's claims), and the scheduler applies each
StartRun once (its id is `<run>:start`). Tenants never wait for each other: a take never
blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.trigger import metrics
from tideflow.trigger.starting import send, take_tenant_start

if TYPE_CHECKING:
    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import TriggerStore

log = logging.getLogger(__name__)

CLAIM = timedelta(seconds=30)
"""How long a claim keeps other replicas off a tenant's starts (a crashed holder's claim
runs out)."""


class DeferredStarts:
    """Sends deferred starts as their tenants' buckets allow; one per trigger process."""

    def __init__(
        self,
        *,
        store: TriggerStore,
        bus: Bus,
        quotas: TenantQuotas | None,
        poll: timedelta,
        outbox_claim: timedelta,
        batch: int = 100,
    ) -> None:
        self._store = store
        self._bus = bus
        self._quotas = quotas
        self._poll = poll.total_seconds()
        self._outbox_claim = outbox_claim
        self._batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.send_due()
            except Exception:
                log.exception("sending deferred event-trigger starts failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll)

    async def send_due(self) -> int:
        """Start what the tenants' buckets allow now; how many started."""
        started = 0
        for tenant in await self._store.deferred_tenants():
            while True:  # a batch at a time, while the tenant's bucket has tokens for all
                sent, more = await self._send_tenant(tenant)
                started += sent
                if not more:
                    break
        return started

    async def _send_tenant(self, tenant: str) -> tuple[int, bool]:
        """Send what the tenant's bucket allows of its oldest deferred starts; how many,
        and whether a whole batch went (there may be more)."""
        ids = await self._store.claim_deferred(tenant, self._batch, CLAIM)
        taken = 0
        wait = 0.0
        for _ in ids:
            refused = await take_tenant_start(self._quotas, tenant)
            if refused is not None:
                wait = refused.retry_after
                metrics.THROTTLED.labels("event").inc()
                break
            taken += 1
        released = await self._store.release_deferred(
            ids[:taken], ids[taken:], hold_for=timedelta(seconds=wait),
            outbox_claimed_for=self._outbox_claim,
        )  # fmt: skip
        await send(self._store, self._bus, [(r.outbox_id, r.message) for r in released])
        metrics.STARTS.labels("event").inc(len(released))
        if ids[taken:]:
            log.info("tenant %s: %d deferred event start(s) wait %.2f s for run-start tokens",
                     tenant, len(ids) - taken, wait)  # fmt: skip
        return len(released), taken == self._batch
