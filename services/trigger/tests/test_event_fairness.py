"""Event triggers on a topic several tenants read: one tenant over its run-start limit never
holds back another tenant's runs, and each of its own messages still starts its run once.

The batch used to wait for the throttled tenant's token while holding every message of
the batch, so the other tenants' runs on the same topic waited with it (head-of-line
blocking across tenants). Now the throttled tenant's starts are parked with the batch, and
recorded and sent by `DeferredStarts` as the tenant's tokens come.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import asyncpg
import pytest

from tideflow.auth import InProcessRateLimiter, TenantQuotas
from tideflow.store import RunFilter, RunRecord
from tideflow.trigger.deferred import DeferredStarts
from tideflow.trigger.events import EventTriggers, Incoming
from tideflow.trigger.starting import Definitions, prepare

from .conftest import Stack, workflow

pytestmark = pytest.mark.integration

WORKFLOW = "shared-orders"


async def _runs(stack: Stack, tenant: str) -> list[RunRecord]:
    page = await stack.store.list_runs(RunFilter(tenant_id=tenant, workflow_id=WORKFLOW), limit=50)
    return page.runs


async def _started_once(stack: Stack, run: RunRecord) -> None:
    """The run succeeded, and was started exactly once."""
    assert (await stack.wait_run(run.run_id)).status == "succeeded"
    events = await stack.store.read(run.run_id)
    assert [e.type for e in events].count("RunStarted") == 1


async def test_a_throttled_tenant_never_holds_back_another_tenants_event_runs(
    stack: Stack,
) -> None:
    topic = f"ext.shared.{uuid.uuid4().hex[:8]}"
    slow, fast = f"slow{uuid.uuid4().hex[:6]}", f"fast{uuid.uuid4().hex[:6]}"
    document = workflow(WORKFLOW, [{"id": "in", "type": "event", "topic": topic}])
    for tenant in (slow, fast):
        await stack.store.create_tenant(tenant)
        await stack.store.create_workflow(WORKFLOW, WORKFLOW, document, tenant_id=tenant)
        await stack.store.publish(WORKFLOW, tenant_id=tenant)
    # the slow tenant: 2 starts a second, a burst of 2; the fast one has no limit
    await stack.store.set_tenant_limits(slow, run_starts_per_second=2, api_requests_per_second=None)
    clock = [0.0]  # the buckets refill only when the test moves this clock
    quotas = TenantQuotas(stack.store, InProcessRateLimiter(clock=lambda: clock[0]))
    triggers = EventTriggers(
        store=stack.triggers, bus=stack.bus, definitions=Definitions(stack.triggers),
        outbox_claim=timedelta(seconds=30), quotas=quotas,
    )  # fmt: skip
    assert topic in await triggers.refresh()
    messages = [
        Incoming(topic=topic, partition=0, offset=i, key=None, value=json.dumps({"n": i}).encode())
        for i in range(6)
    ]

    # Each message starts one run per tenant. The batch no longer waits for the slow
    # tenant's bucket (which never refills here): it used to, so this never returned.
    outcomes = await asyncio.wait_for(triggers.handle(messages), timeout=30)
    assert len(outcomes) == 12
    started = {o.run.tenant_id: 0 for o in outcomes}
    for outcome in outcomes:
        assert outcome.created != outcome.deferred
        started[outcome.run.tenant_id] += outcome.created
    assert started == {slow: 2, fast: 6}  # the slow tenant's burst of 2 started at once

    # the fast tenant's runs all run now; of the slow tenant's, those it had tokens for
    # (the others are not runs yet: nothing shows as pending, nothing takes a cancel)
    for tenant, count in started.items():
        runs = await _runs(stack, tenant)
        assert len(runs) == count
        for run in runs:
            await _started_once(stack, run)

    # the batch again (the process died before its offsets were committed): no new run,
    # nothing parked twice
    again = await triggers.handle(messages)
    assert not any(o.created for o in again)
    assert sum(o.deferred for o in again) == 4
    assert len(await _runs(stack, slow)) == 2

    # two replicas send the deferred starts as the bucket refills: each goes out once
    replicas = [
        DeferredStarts(
            store=stack.triggers,
            bus=stack.bus,
            quotas=quotas,
            poll=timedelta(seconds=1),
            outbox_claim=timedelta(seconds=30),
        )
        for _ in range(2)
    ]
    sent = [0]

    async def all_sent() -> bool:
        clock[0] += 1.0  # two more tokens
        counts = await asyncio.gather(*(replica.send_due() for replica in replicas))
        sent[0] += sum(counts)
        assert sum(counts) <= 2  # never more than the bucket allowed
        return sent[0] >= 4

    await stack.until(all_sent, "the deferred starts")
    assert sent[0] == 4
    assert await stack.triggers.claim_deferred(slow, 100, timedelta(seconds=1)) == []
    for run in await _runs(stack, slow):
        await _started_once(stack, run)
    assert len(await _runs(stack, slow)) == len(await _runs(stack, fast)) == 6


async def test_a_start_parked_the_0025_way_still_goes_out(stack: Stack) -> None:
    """Migration 0025 parked only the StartRun of a run it had already recorded (0025b
    parks the whole run): such a row is sent as it is, its run started once."""
    topic = f"ext.legacy.{uuid.uuid4().hex[:8]}"
    await stack.publish(workflow("legacy-parked", [{"id": "in", "type": "event", "topic": topic}]))
    (trigger,) = [t for t in await stack.triggers.event_triggers() if t.topic == topic]
    definition = await Definitions(stack.triggers).get(trigger)
    parked = prepare(
        trigger, definition, run_input={"n": 1}, key="legacy", topic=stack.bus.topics.runs
    )
    run, start = parked.run, parked.start
    owner = await asyncpg.connect(stack.dsn)
    try:
        await owner.execute(
            "INSERT INTO runs (run_id, tenant_id, workflow_id, version, status, input,"
            " idempotency_key, started_at, updated_at)"
            " VALUES ($1, $2, $3, $4, 'pending', $5::jsonb, $6, $7, now())",
            run.run_id, run.tenant_id, run.workflow_id, run.version, json.dumps(run.input),
            run.idempotency_key, run.started_at,
        )  # fmt: skip
        await owner.execute(
            "INSERT INTO trigger_deferred_starts (tenant_id, run_id, topic, key, payload,"
            " header_keys, header_values) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            start.tenant_id, run.run_id, start.topic, start.key, start.payload,
            [k for k, _ in start.headers], [v for _, v in start.headers],
        )  # fmt: skip
    finally:
        await owner.close()
    deferred = DeferredStarts(
        store=stack.triggers,
        bus=stack.bus,
        quotas=None,
        poll=timedelta(seconds=1),
        outbox_claim=timedelta(seconds=30),
    )
    assert await deferred.send_due() == 1
    await _started_once(stack, await stack.store.get_run(run.run_id))
    assert await deferred.send_due() == 0


async def test_deferred_starts_go_out_a_batch_at_a_time_while_tokens_last(stack: Stack) -> None:
    """A tenant whose bucket allows more than one batch of its deferred starts gets them all
    in one look, not one batch per poll."""
    topic = f"ext.batches.{uuid.uuid4().hex[:8]}"
    tenant = f"batch{uuid.uuid4().hex[:6]}"
    await stack.store.create_tenant(tenant)
    document = workflow(WORKFLOW, [{"id": "in", "type": "event", "topic": topic}])
    await stack.store.create_workflow(WORKFLOW, WORKFLOW, document, tenant_id=tenant)
    await stack.store.publish(WORKFLOW, tenant_id=tenant)
    await stack.store.set_tenant_limits(
        tenant, run_starts_per_second=1, api_requests_per_second=None
    )
    quotas = TenantQuotas(stack.store, InProcessRateLimiter(clock=lambda: 0.0))
    triggers = EventTriggers(
        store=stack.triggers, bus=stack.bus, definitions=Definitions(stack.triggers),
        outbox_claim=timedelta(seconds=30), quotas=quotas,
    )  # fmt: skip
    assert topic in await triggers.refresh()
    messages = [
        Incoming(topic=topic, partition=0, offset=i, key=None, value=json.dumps({"n": i}).encode())
        for i in range(6)
    ]
    outcomes = await triggers.handle(messages)
    assert [o.deferred for o in outcomes] == [False] + [True] * 5
    # the limit is lifted (no quotas): every deferred start goes at once, two per claim
    deferred = DeferredStarts(
        store=stack.triggers,
        bus=stack.bus,
        quotas=None,
        poll=timedelta(seconds=1),
        outbox_claim=timedelta(seconds=30),
        batch=2,
    )
    assert await deferred.send_due() == 5
    runs = await _runs(stack, tenant)
    assert sorted(r.input["n"] for r in runs) == list(range(6))
    for run in runs:
        await _started_once(stack, run)
