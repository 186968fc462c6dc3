"""Event triggers: only matching messages start runs, each message once, across a restart.

The Kafka source (FastStream) reads a user topic of the real broker; the in-process bus
source is what `tide dev` feeds with `POST /events/{topic}`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest

from tideflow.auth import Authenticator
from tideflow.bus import InMemoryBus, RawOutgoing, payload_of
from tideflow.store import APP_ROLE, InvalidData, PostgresTriggerStore, TriggeredRun
from tideflow.trigger.app import create_app, run_trigger, services_of
from tideflow.trigger.events import EventTriggers, Incoming
from tideflow.trigger.settings import TriggerSettings
from tideflow.trigger.starting import Definitions

from .conftest import Stack, workflow

pytestmark = pytest.mark.integration

FAST = {"event_refresh": timedelta(milliseconds=100), "event_offset_reset": "earliest"}


def orders_workflow(name: str, topic: str) -> dict[str, object]:
    return workflow(name, [{
        "id": "orders", "type": "event", "topic": topic,
        "filter": 'message.kind == "order" && message.total > 100',
        "input": {"n": "{{ message.n }}", "from": "{{ topic }}"},
    }])  # fmt: skip


async def send(stack: Stack, topic: str, messages: list[dict[str, object]]) -> None:
    await stack.bus.publish_raw_batch(
        [RawOutgoing(topic=topic, key=None, value=json.dumps(m).encode()) for m in messages]
    )


async def test_kafka_event_trigger_filters_and_starts_each_message_once(stack: Stack) -> None:
    topic = f"ext.orders.{uuid.uuid4().hex[:8]}"
    await stack.bus.ensure_topics([topic], partitions=2)
    await stack.publish(orders_workflow("on-orders", topic))
    settings = TriggerSettings(**FAST, event_group=f"g{uuid.uuid4().hex[:6]}")  # type: ignore[arg-type]

    async def run_once(messages: list[dict[str, object]], expect: int) -> None:
        services = services_of(settings=settings, store=stack.triggers, bus=stack.bus)
        stop = asyncio.Event()
        task = asyncio.create_task(run_trigger(services=services, stop=stop, serve_http=False))
        try:
            await stack.until(lambda: _subscribed(services, topic), "the subscription")
            await send(stack, topic, messages)

            async def started() -> bool:
                return len(await stack.runs_of("on-orders")) >= expect

            await stack.until(started, f"{expect} runs")
        finally:
            stop.set()
            await task

    matching = [{"kind": "order", "total": 150, "n": n} for n in range(3)]
    others = [{"kind": "refund", "total": 500, "n": 90}, {"kind": "order", "total": 5, "n": 91}]
    await run_once([*matching[:2], others[0], matching[2], others[1]], expect=3)
    # published while the service is down: read after the restart, nothing read twice
    later = [{"kind": "order", "total": 101, "n": n} for n in (3, 4)]
    await send(stack, topic, [later[0], {"kind": "other"}, later[1]])
    await run_once([], expect=5)

    runs = await stack.runs_of("on-orders")
    assert sorted(r.input["n"] for r in runs) == [0, 1, 2, 3, 4]
    assert len({r.idempotency_key for r in runs}) == 5
    assert {r.input["from"] for r in runs} == {topic}
    for run in runs:
        assert (await stack.wait_run(run.run_id)).status == "succeeded"


async def _subscribed(services: object, topic: str) -> bool:
    probe = getattr(services, "subscribed", None)
    return bool(probe and topic in probe())


async def test_a_redelivered_message_starts_no_second_run(stack: Stack) -> None:
    topic = f"ext.redeliver.{uuid.uuid4().hex[:8]}"
    await stack.publish(workflow("keyed", [
        {"id": "by-key", "type": "event", "topic": topic, "key": "{{ message.id }}"},
        {"id": "by-offset", "type": "event", "topic": topic},
    ]))  # fmt: skip
    triggers = EventTriggers(store=stack.triggers, bus=stack.bus,
                             definitions=Definitions(stack.triggers),
                             outbox_claim=timedelta(seconds=30))  # fmt: skip
    assert topic in await triggers.refresh()
    message = Incoming(topic=topic, partition=0, offset=7, key=None, value=b'{"id": "A-1"}')
    first = await triggers.handle([message])
    assert [o.created for o in first] == [True, True]
    again = await triggers.handle([message])  # at-least-once: the same record again
    assert [o.created for o in again] == [False, False]
    assert {o.run.run_id for o in again} == {o.run.run_id for o in first}
    # the same business key at another offset: the key trigger dedupes, the other does not
    moved = Incoming(topic=topic, partition=1, offset=3, key=None, value=b'{"id": "A-1"}')
    third = await triggers.handle([moved])
    assert [o.created for o in third] == [False, True]


async def test_dev_events_feed_the_trigger_through_the_in_process_bus(stack: Stack) -> None:
    topic = f"dev.orders.{uuid.uuid4().hex[:8]}"
    await stack.publish(orders_workflow("dev-orders", topic))
    bus = InMemoryBus()
    await bus.start()
    store = await PostgresTriggerStore.connect(stack.dsn, role=APP_ROLE)
    services = services_of(settings=TriggerSettings(**FAST), store=store, bus=bus,  # type: ignore[arg-type]
                           dev_events=True)  # fmt: skip
    app = create_app(services, Authenticator(admin_token="dev"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_trigger(services=services, stop=stop, serve_http=False))
    auth = {"Authorization": "Bearer dev"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://dev") as http:  # fmt: skip
            await stack.until(lambda: _subscribed(services, topic), "the subscription")
            for total in (50, 150, 250):
                body = {"kind": "order", "total": total, "n": total}
                response = await http.post(f"/events/{topic}", json=body, headers=auth)
                assert response.status_code == 202, response.text

            async def two() -> bool:
                return len(await stack.runs_of("dev-orders")) == 2

            await stack.until(two, "two runs")
            assert (await http.post(f"/events/{topic}", json={})).status_code == 401
            doc = (await http.get("/asyncapi.json", headers=auth)).json()
            addresses = {c["address"] for c in doc["channels"].values()}
            assert topic in addresses
            assert doc["asyncapi"].startswith("3.")
            # the in-process bus has no Kafka server: the document advertised one anyway
            assert "servers" not in doc
            assert "kafka" not in json.dumps(doc["operations"])
            assert "in-process bus" in doc["info"]["description"]
    finally:
        stop.set()
        await task
        await store.close()
        await bus.close()
    runs = await stack.runs_of("dev-orders")
    assert sorted(r.input["n"] for r in runs) == [150, 250]


async def _dead_letters(
    stack: Stack, count: int, timeout: float = 30, *, topic: str | None = None
) -> list[object]:
    """The first `count` dead letters on the stack's DLQ topic (of messages of `topic`)."""
    letters: list[object] = []
    consumer = stack.bus.consumer([stack.bus.topics.dlq], group=f"dlq-{uuid.uuid4().hex[:6]}")
    async with consumer:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(letters) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(letters)}/{count} letters"
            batch = await consumer.next_batch(max_wait=timedelta(milliseconds=200))
            if batch is not None:
                letters += [
                    letter for letter in (payload_of(m.envelope) for m in batch)
                    if topic is None or letter.original_topic == topic  # type: ignore[union-attr]
                ]  # fmt: skip
                await batch.commit()
    return letters


async def test_a_hostile_message_is_dead_lettered_and_never_blocks_its_topic(
    stack: Stack,
) -> None:
    """Messages of user topics come from anywhere, not through the API's edge checks: a
    value the log cannot hold (NUL, NaN, nested past the encoder, larger than a run
    input may be), or input the workflow's schema refuses, once made `handle` raise (a
    store or encoder error), so the batch was redelivered for ever and the topic stalled.
    Each now goes to the DLQ with its reason; the good messages around it start runs."""
    topic = f"ext.hostile.{uuid.uuid4().hex[:8]}"
    await stack.publish(workflow("hostile", [{"id": "in", "type": "event", "topic": topic}],
                                 input={"type": "object", "required": ["n"]}))  # fmt: skip
    triggers = EventTriggers(store=stack.triggers, bus=stack.bus,
                             definitions=Definitions(stack.triggers),
                             outbox_claim=timedelta(seconds=30))  # fmt: skip
    assert topic in await triggers.refresh()
    values = [
        b'{"n": 1}',
        b'{"n": "a\\u0000b"}',  # Postgres refuses NUL in jsonb
        b'{"n": NaN}',  # Python's json reads it; JSON cannot hold it
        b'{"n": ' + b"[" * 300 + b"]" * 300 + b"}",  # deeper than the encoder goes
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
        b'{"n": "' + b"x" * (2 * 1024 * 1024) + b'"}',  # larger than a run input may be
        b'{"m": 1}',  # the workflow's input schema requires n
        b'{"n": 2}',
    ]
    messages = [
        Incoming(topic=topic, partition=0, offset=i, key=None, value=v)
        for i, v in enumerate(values)
    ]
    outcomes = await triggers.handle(messages)
    assert sorted(o.run.input["n"] for o in outcomes) == [1, 2]
    letters = await _dead_letters(stack, len(values) - 2, topic=topic)
    assert sorted(letter.original_offset for letter in letters) == [1, 2, 3, 4, 5, 6]  # type: ignore[attr-defined]
    codes = {letter.original_offset: letter.error_code for letter in letters}  # type: ignore[attr-defined]
    assert codes == {1: "NulCharacter", 2: "NonFiniteNumber", 3: "ValueTooDeep",
                     4: "ValueTooDeep", 5: "ValueTooLarge", 6: "INPUT_INVALID"}  # fmt: skip
    for letter in letters:
        assert letter.reason  # type: ignore[attr-defined]
        # a letter fits in one broker request: the 2 MiB value is kept cut, and says so
        assert len(letter.original_value) <= 64 * 1024  # type: ignore[attr-defined]
    assert "cut to its first" in next(x for x in letters if x.original_offset == 5).reason  # type: ignore[attr-defined]


async def test_dev_events_refuse_the_platforms_own_topics(stack: Stack) -> None:
    """`POST /events/{topic}` fed any topic, the platform's own too: an editor could put a
    forged command on `tideflow.runs` (an approval decision without the approver grant,
    a cancel or a step result for another tenant's run) or a forged run event on
    `tideflow.events` (an approval in another tenant's inbox). Those are refused (403)."""
    bus = InMemoryBus()
    await bus.start()
    services = services_of(settings=TriggerSettings(**FAST), store=stack.triggers,  # type: ignore[arg-type]
                           bus=bus, dev_events=True)  # fmt: skip
    app = create_app(services, Authenticator(admin_token="dev"))
    auth = {"Authorization": "Bearer dev"}
    topics = bus.topics
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://dev") as http:  # fmt: skip
            for topic in (topics.runs, topics.events, topics.dlq, topics.tasks("default"),
                          topics.task_cancels("default"), f"{topics.prefix}.anything"):  # fmt: skip
                response = await http.post(f"/events/{topic}", content=b"forged", headers=auth)
                assert response.status_code == 403, (topic, response.text)
                assert response.json()["error"]["code"] == "FORBIDDEN"
            # a topic of the user's own, even one whose name merely starts alike, is fine
            for topic in ("orders", f"{topics.prefix}-orders"):
                response = await http.post(f"/events/{topic}", content=b"{}", headers=auth)
                assert response.status_code == 202, response.text
    finally:
        await bus.close()


async def test_a_trigger_on_the_platforms_own_topics_is_never_subscribed(stack: Stack) -> None:
    """Refused at publish (RESERVED_TOPIC); one registered anyway (an older version, or
    written past the gateway) must not read every tenant's run events."""
    await stack.publish(workflow("spy", [
        {"id": "spy", "type": "event", "topic": stack.bus.topics.events},
        {"id": "own", "type": "event", "topic": "spy.own"},
    ]))  # fmt: skip
    triggers = EventTriggers(store=stack.triggers, bus=stack.bus,
                             definitions=Definitions(stack.triggers),
                             outbox_claim=timedelta(seconds=30))  # fmt: skip
    topics = await triggers.refresh()
    assert "spy.own" in topics
    assert stack.bus.topics.events not in topics


async def test_a_message_whose_start_fails_for_good_is_dead_lettered(stack: Stack) -> None:
    """A message whose runs the store refuses for good (not an outage) was redelivered for
    ever (FastStream's NACK seeks back), and every later message of its partition waited
    behind it. After a few attempts it now goes to the DLQ and the partition moves on."""
    topic = f"ext.failing.{uuid.uuid4().hex[:8]}"
    await stack.bus.ensure_topics([topic], partitions=1)
    await stack.publish(workflow("failing", [{"id": "in", "type": "event", "topic": topic}]))
    store = await PostgresTriggerStore.connect(stack.dsn, role=APP_ROLE)
    real = store.start_runs

    async def refusing(runs: list[TriggeredRun], **kwargs: object) -> object:
        if any(isinstance(r.run.input, dict) and r.run.input.get("boom") for r in runs):
            raise InvalidData("a row the store refuses, whatever the attempt")
        return await real(runs, **kwargs)  # type: ignore[arg-type]

    store.start_runs = refusing  # type: ignore[method-assign, assignment]
    settings = TriggerSettings(**FAST, event_group=f"g{uuid.uuid4().hex[:6]}")  # type: ignore[arg-type]
    services = services_of(settings=settings, store=store, bus=stack.bus)
    stop = asyncio.Event()
    task = asyncio.create_task(run_trigger(services=services, stop=stop, serve_http=False))
    try:
        await stack.until(lambda: _subscribed(services, topic), "the subscription")
        await send(stack, topic, [{"n": 1}, {"n": 2, "boom": True}, {"n": 3}])

        async def both() -> bool:
            return len(await stack.runs_of("failing")) == 2

        await stack.until(both, "the runs of the messages around the failing one")
    finally:
        stop.set()
        await task
        await store.close()
    assert sorted(r.input["n"] for r in await stack.runs_of("failing")) == [1, 3]
    letters = await _dead_letters(stack, 1, topic=topic)
    assert [(x.original_offset, x.error_code) for x in letters] == [(1, "START_FAILED")]  # type: ignore[attr-defined]


async def test_the_asyncapi_document_of_the_kafka_stack_names_its_kafka(stack: Stack) -> None:
    topic = f"orders.{uuid.uuid4().hex[:8]}"
    await stack.publish(orders_workflow("kafka-orders", topic))
    doc = (await stack.http.get("/asyncapi.json", headers=stack.auth)).json()
    bootstrap = stack.services.settings.kafka.bootstrap
    assert doc["servers"] == {"kafka": {"host": bootstrap, "protocol": "kafka"}}
    [consume] = [o for o in doc["operations"].values() if o["action"] == "receive"
                 and o["channel"]["$ref"].endswith(topic.replace(".", "_"))]  # fmt: skip
    assert consume["bindings"] == {"kafka": {"groupId": {"type": "string"}}}
    assert "in-process" not in doc["info"]["description"]
