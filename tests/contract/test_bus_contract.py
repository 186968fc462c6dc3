"""One contract for every Bus: the in-memory bus and KafkaBus on the real broker.

Each test gets a bus whose topics carry a fresh prefix, so tests never see each other's
messages or consumer groups. Waiting is always a poll with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from prometheus_client import generate_latest

from tideflow.bus import (
    MAX_MESSAGE_BYTES,
    Batch,
    BatchStateError,
    Bus,
    CodecErrorCode,
    Consumer,
    InMemoryBus,
    KafkaBus,
    Message,
    Outgoing,
    PostgresJournal,
    RawOutgoing,
    Topics,
    dump_json,
    load_json,
    new_envelope,
    partition_for,
    payload_of,
    pb,
)
from tideflow.store import migrate
from tideflow.store.testing import Databases, with_database

pytestmark = [pytest.mark.contract, pytest.mark.timeout(90)]

PARTITIONS = 4
DEADLINE = 30.0
POLL = timedelta(milliseconds=50)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("journaled", marks=pytest.mark.integration),
        pytest.param("kafka", marks=pytest.mark.integration),
    ]
)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    topics = Topics(prefix=f"test-{uuid.uuid4().hex[:12]}")
    instance: Bus
    if request.param == "memory":
        instance = InMemoryBus(topics=topics, default_partitions=PARTITIONS)
    elif request.param == "journaled":  # tide dev's bus: the same, written to Postgres
        databases: Databases = request.getfixturevalue("databases")
        database = await databases.create()
        dsn = with_database(databases.url, database)
        await migrate(dsn)
        journal = PostgresJournal(dsn)
        instance = InMemoryBus(topics=topics, default_partitions=PARTITIONS, journal=journal)
    else:
        instance = KafkaBus(
            bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
            topics=topics,
            heartbeat_interval=timedelta(milliseconds=100),
            session_timeout=timedelta(seconds=6),
        )
    await instance.start()
    await instance.ensure_topics([topics.runs, topics.dlq], partitions=PARTITIONS)
    yield instance
    await instance.close()
    if request.param == "journaled":
        await databases.drop(database)


def command(run_id: str, n: int) -> pb.Envelope:
    return new_envelope(
        pb.StartRun(command_id=f"{run_id}/{n}", run_id=run_id, input_json=dump_json({"n": n})),
        tenant_id="tenant-1",
        run_id=run_id,
        traceparent=TRACEPARENT,
    )


def ident(message: Message) -> str:
    start = payload_of(message.envelope)
    assert isinstance(start, pb.StartRun)
    return start.command_id


async def publish(bus: Bus, runs: int, per_run: int, *, first: int = 0) -> set[str]:
    """Publish per_run commands for each of `runs` runs, interleaved across runs."""
    outgoing = [
        Outgoing(bus.topics.runs, f"run-{r}", command(f"run-{r}", n))
        for n in range(first, first + per_run)
        for r in range(runs)
    ]
    await bus.publish_batch(outgoing)
    return {f"run-{r}/{n}" for n in range(first, first + per_run) for r in range(runs)}


def deadline() -> float:
    return asyncio.get_running_loop().time() + DEADLINE


async def drain(consumer: Consumer, count: int, *, commit: bool = True) -> list[Message]:
    """Consume until `count` messages arrived (committing each batch), failing at the deadline."""
    until = deadline()
    received: list[Message] = []
    while len(received) < count:
        assert asyncio.get_running_loop().time() < until, f"got {len(received)} of {count}"
        batch = await consumer.next_batch(max_wait=POLL)
        if batch is None:
            continue
        received.extend(batch)
        if commit:
            await batch.commit()
        else:
            await batch.rewind()
    return received


async def assert_quiet(consumer: Consumer) -> None:
    """Nothing more arrives: immediate for the in-memory bus, a broker fetch cycle for Kafka."""
    quiet = timedelta(milliseconds=20 if isinstance(consumer.bus, InMemoryBus) else 500)
    batch = await consumer.next_batch(max_wait=quiet)
    assert batch is None, [ident(m) for m in batch or []]


async def test_envelope_key_and_headers_survive_the_trip(bus: Bus) -> None:
    sent = command("run-x", 1)
    await bus.publish(bus.topics.runs, "run-x", sent)
    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        (message,) = await drain(consumer, 1)
    assert message.envelope == sent
    assert message.key == "run-x"
    assert message.topic == bus.topics.runs
    assert load_json(payload_of(message.envelope).input_json) == {"n": 1}  # type: ignore[union-attr]
    headers = dict(message.record.headers)
    assert headers["traceparent"] == TRACEPARENT.encode()
    assert headers["tideflow-type"] == b"tideflow.v1.StartRun"


async def test_a_message_as_large_as_the_engine_allows_travels_with_its_neighbours(
    bus: Bus,
) -> None:
    """A task may carry a 4 MiB config (`TIDEFLOW_LIMITS_EVENT_BYTES`): Kafka's default
    1 MiB record limit refused it, and the batch it was published in failed with it."""
    big = new_envelope(
        pb.StartRun(command_id="big/1", run_id="big", input_json=dump_json("x" * 5_000_000)),
        tenant_id="tenant-1", run_id="big",
    )  # fmt: skip
    await bus.publish_batch([
        Outgoing(bus.topics.runs, "small", command("small", 1)),
        Outgoing(bus.topics.runs, "big", big),
        Outgoing(bus.topics.runs, "small", command("small", 2)),
    ])  # fmt: skip
    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        received = {ident(m): m for m in await drain(consumer, 3)}
    assert set(received) == {"small/1", "big/1", "small/2"}
    assert received["big/1"].envelope == big


async def test_order_is_kept_per_key_and_a_key_keeps_its_partition(bus: Bus) -> None:
    await publish(bus, runs=6, per_run=15)
    async with bus.consumer([bus.topics.runs], group="g", max_batch=16) as consumer:
        received = await drain(consumer, 90)
    by_run: dict[str, list[Message]] = {}
    for message in received:
        by_run.setdefault(message.envelope.run_id, []).append(message)
    assert len(by_run) == 6
    for run_id, messages in by_run.items():
        assert [ident(m) for m in messages] == [f"{run_id}/{n}" for n in range(15)]
        assert {m.partition for m in messages} == {partition_for(run_id.encode(), PARTITIONS, 0)}
        offsets = [m.offset for m in messages]
        assert offsets == sorted(offsets)


async def test_every_group_gets_every_message(bus: Bus) -> None:
    sent = await publish(bus, runs=5, per_run=4)
    async with (
        bus.consumer([bus.topics.runs], group="scheduler") as first,
        bus.consumer([bus.topics.runs], group="audit") as second,
    ):
        got_first = {ident(m) for m in await drain(first, 20)}
        got_second = {ident(m) for m in await drain(second, 20)}
    assert got_first == got_second == sent


async def test_members_of_one_group_share_the_partitions(bus: Bus) -> None:
    async with (
        bus.consumer([bus.topics.runs], group="g") as a,
        bus.consumer([bus.topics.runs], group="g") as b,
    ):
        everything = set(range(PARTITIONS))

        def balanced() -> bool:
            mine, theirs = a.assignment(), b.assignment()
            return (
                bool(mine)
                and bool(theirs)
                and not (mine & theirs)
                and {tp.partition for tp in mine | theirs} == everything
            )

        await poll_while_waiting([a, b], balanced, "both members to own partitions")
        sent = await publish(bus, runs=12, per_run=3)
        received: dict[str, list[Message]] = {"a": [], "b": []}
        await asyncio.gather(
            collect(a, received["a"], lambda: len(received["a"]) + len(received["b"]) >= 36),
            collect(b, received["b"], lambda: len(received["a"]) + len(received["b"]) >= 36),
        )
        got_a = {ident(m) for m in received["a"]}
        got_b = {ident(m) for m in received["b"]}
        assert got_a
        assert got_b
        assert not got_a & got_b
        assert got_a | got_b == sent
        assert {m.partition for m in received["a"]} <= {tp.partition for tp in a.assignment()}


async def poll_while_waiting(
    consumers: list[Consumer], condition: Callable[[], bool], what: str
) -> None:
    """Keep every member polling (Kafka members take part in a rebalance while they poll)."""
    until = deadline()
    while not condition():
        assert asyncio.get_running_loop().time() < until, f"timed out waiting for {what}"
        for consumer in consumers:
            batch = await consumer.next_batch(max_wait=timedelta(milliseconds=20))
            assert batch is None, "no messages were published yet"


async def collect(consumer: Consumer, into: list[Message], done: Callable[[], bool]) -> None:
    until = deadline()
    while not done():
        assert asyncio.get_running_loop().time() < until, f"collected only {len(into)}"
        batch = await consumer.next_batch(max_wait=POLL)
        if batch is not None:
            into.extend(batch)
            await batch.commit()


async def test_uncommitted_messages_come_back_after_a_restart(bus: Bus) -> None:
    sent = await publish(bus, runs=2, per_run=5)
    first = bus.consumer([bus.topics.runs], group="g")
    await first.start()
    batch = await first_batch(first)
    fetched = {ident(m) for m in batch}
    await first.close()  # crash-like: nothing committed
    async with bus.consumer([bus.topics.runs], group="g") as second:
        again = {ident(m) for m in await drain(second, 10)}
    assert fetched <= again == sent


async def first_batch(consumer: Consumer) -> Batch:
    until = deadline()
    while True:
        assert asyncio.get_running_loop().time() < until, "no batch arrived"
        batch = await consumer.next_batch(max_wait=POLL)
        if batch is not None:
            return batch


async def test_committed_messages_are_not_delivered_again(bus: Bus) -> None:
    await publish(bus, runs=2, per_run=5)
    async with bus.consumer([bus.topics.runs], group="g") as first:
        await drain(first, 10)
    later = await publish(bus, runs=2, per_run=3, first=5)
    async with bus.consumer([bus.topics.runs], group="g") as second:
        assert {ident(m) for m in await drain(second, 6)} == later
        await assert_quiet(second)


async def test_a_rewound_batch_is_delivered_again_and_batches_must_be_finished(bus: Bus) -> None:
    sent = await publish(bus, runs=1, per_run=6)
    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        batch = await first_batch(consumer)
        with pytest.raises(BatchStateError):
            await consumer.next_batch(max_wait=POLL)
        await batch.rewind()
        with pytest.raises(BatchStateError):
            await batch.commit()
        again = await drain(consumer, 6)
        assert [ident(m) for m in again[: len(batch)]] == [ident(m) for m in batch]
        assert {ident(m) for m in again} == sent


async def test_run_commits_after_the_handler_and_redelivers_when_it_fails(bus: Bus) -> None:
    sent = await publish(bus, runs=3, per_run=4)
    effects: list[str] = []
    failures = 0
    stop = asyncio.Event()

    async def handler(batch: Batch) -> None:
        nonlocal failures
        if failures < 2:  # the "database" is down for the first two attempts
            failures += 1
            raise RuntimeError("database unavailable")
        effects.extend(ident(m) for m in batch)
        if set(effects) >= sent:
            stop.set()

    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        await asyncio.wait_for(
            consumer.run(handler, stop=stop, retry_delay=timedelta(milliseconds=10)), DEADLINE
        )
    assert failures == 2
    assert set(effects) == sent
    async with bus.consumer([bus.topics.runs], group="g") as after:
        await assert_quiet(after)


async def test_a_poison_message_goes_to_the_dlq_and_the_partition_keeps_flowing(bus: Bus) -> None:
    runs = bus.topics.runs
    garbage = b"\xff\xfe definitely not an envelope"
    await bus.publish(runs, "run-p", command("run-p", 1))
    await bus.publish_raw_batch([RawOutgoing(runs, b"run-p", garbage, (("h", b"v"),))])
    await bus.publish(runs, "run-p", command("run-p", 2))
    await bus.publish_raw_batch([RawOutgoing(runs, b"run-q", b"")])  # a lone poison record
    await bus.publish(runs, "run-q", command("run-q", 1))
    async with bus.consumer([runs], group="scheduler") as consumer:
        received = await drain(consumer, 3)
    assert sorted(ident(m) for m in received) == ["run-p/1", "run-p/2", "run-q/1"]

    async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
        letters = {m.key: m for m in await drain(dlq, 2)}
        await assert_quiet(dlq)
    letter = payload_of(letters["run-p"].envelope)
    assert isinstance(letter, pb.DeadLetter)
    assert letter.original_topic == runs
    assert letter.original_partition == partition_for(b"run-p", PARTITIONS, 0)
    assert letter.original_offset == 1
    assert letter.original_key == b"run-p"
    assert letter.original_value == garbage
    assert [(h.key, h.value) for h in letter.original_headers] == [("h", b"v")]
    assert letter.error_code == CodecErrorCode.INVALID_PROTOBUF
    assert letter.reason
    assert letter.consumer_group == "scheduler"
    empty = payload_of(letters["run-q"].envelope)
    assert isinstance(empty, pb.DeadLetter)
    assert empty.error_code == CodecErrorCode.MISSING_PAYLOAD

    async with bus.consumer([runs], group="scheduler") as again:  # all committed, poison too
        await assert_quiet(again)


async def test_a_poison_record_at_the_size_limit_is_dead_lettered_and_the_partition_flows(
    bus: Bus,
) -> None:
    """Its dead letter (the record and the reason) was over the record limit: publishing it
    failed, so the fetch failed, again and again, and the partition stalled behind it."""
    runs = bus.topics.runs
    garbage = b"\xff" + b"x" * (MAX_MESSAGE_BYTES - 200)  # as big as the producer takes
    await bus.publish_raw_batch([RawOutgoing(runs, b"run-big", garbage)])
    await bus.publish(runs, "run-big", command("run-big", 1))
    async with bus.consumer([runs], group="scheduler") as consumer:
        received = await drain(consumer, 1)
    assert [ident(m) for m in received] == ["run-big/1"]
    async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
        (dead,) = await drain(dlq, 1)
    letter = payload_of(dead.envelope)
    assert isinstance(letter, pb.DeadLetter)
    assert letter.error_code == CodecErrorCode.INVALID_PROTOBUF
    assert letter.reason.startswith("not an Envelope")
    assert garbage.startswith(letter.original_value)
    assert letter.original_offset == 0


async def test_a_handler_can_dead_letter_a_message_it_cannot_use(bus: Bus) -> None:
    await bus.publish(bus.topics.runs, "run-u", command("run-u", 1))
    async with bus.consumer([bus.topics.runs], group="scheduler") as consumer:
        batch = await first_batch(consumer)
        (message,) = batch
        await bus.dead_letter(
            message, reason="unknown run run-u", code="scheduler.unknown_run", group="scheduler"
        )
        assert await batch.commit()
    async with bus.consumer([bus.topics.dlq], group="ops") as dlq:
        (dead,) = await drain(dlq, 1)
    letter = payload_of(dead.envelope)
    assert isinstance(letter, pb.DeadLetter)
    assert (letter.error_code, letter.reason) == ("scheduler.unknown_run", "unknown run run-u")
    assert dead.envelope.run_id == "run-u"
    assert dead.envelope.tenant_id == "tenant-1"
    assert dead.envelope.trace.traceparent == TRACEPARENT
    assert letter.original_value == message.record.value


async def test_consumption_is_batched_up_to_max_batch(bus: Bus) -> None:
    await publish(bus, runs=10, per_run=6)
    sizes: list[int] = []
    async with bus.consumer([bus.topics.runs], group="g", max_batch=7) as consumer:
        until = deadline()
        while sum(sizes) < 60:
            assert asyncio.get_running_loop().time() < until
            batch = await consumer.next_batch(max_wait=POLL)
            if batch is not None:
                sizes.append(len(batch))
                await batch.commit()
    assert max(sizes) <= 7
    assert max(sizes) > 1
    assert sum(sizes) == 60


async def test_a_rebalance_between_two_members_loses_nothing(bus: Bus) -> None:
    group, runs = "g", bus.topics.runs
    sent = await publish(bus, runs=8, per_run=5)
    seen: list[Message] = []
    a = bus.consumer([runs], group=group, max_batch=5)
    await a.start()
    for _ in range(2):  # a has handled part of the stream when b joins
        batch = await first_batch(a)
        seen.extend(batch)
        await batch.commit()
    b = bus.consumer([runs], group=group, max_batch=5)
    await b.start()
    sent |= await publish(bus, runs=8, per_run=5, first=5)

    def complete() -> bool:
        return {ident(m) for m in seen} >= sent

    await asyncio.gather(collect(a, seen, complete), collect(b, seen, complete))
    await a.close()  # a leaves mid-stream: b takes over its partitions
    sent |= await publish(bus, runs=8, per_run=5, first=10)
    await collect(b, seen, complete)
    await b.close()
    assert {ident(m) for m in seen} == sent
    async with bus.consumer([runs], group=group) as after:
        await assert_quiet(after)


# Pipelined consumption: handlers per message, commits in order up to the first unfinished.


def number(message: Message) -> int:
    return int(ident(message).rsplit("/", 1)[1])


class Seen:
    """What handlers have done so far; tests wait on it rather than sleep."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self._changed = asyncio.Event()

    def add(self, message: Message) -> None:
        self.handled.append(ident(message))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        limit = deadline()
        while not condition():
            remaining = limit - asyncio.get_running_loop().time()
            assert remaining > 0, f"timed out waiting for {what}: {self.handled}"
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))


async def test_pipelined_a_slow_message_does_not_hold_back_later_ones(bus: Bus) -> None:
    sent = await publish(bus, runs=1, per_run=20)
    seen, release, stop = Seen(), asyncio.Event(), asyncio.Event()

    async def handler(message: Message) -> None:
        if number(message) == 0:
            await release.wait()
        seen.add(message)

    async with bus.consumer([bus.topics.runs], group="g", max_batch=4) as consumer:
        running = asyncio.create_task(consumer.run_pipelined(handler, stop=stop, max_in_flight=8))
        await seen.until(lambda: len(seen.handled) == 19, "the 19 quick messages")
        assert "run-0/0" not in seen.handled
        release.set()
        await seen.until(lambda: set(seen.handled) == sent, "the slow message")
        stop.set()
        await asyncio.wait_for(running, DEADLINE)
    async with bus.consumer([bus.topics.runs], group="g") as after:
        await assert_quiet(after)


async def test_pipelined_commits_only_up_to_the_first_unfinished_message(bus: Bus) -> None:
    await publish(bus, runs=1, per_run=8)
    seen, stop = Seen(), asyncio.Event()

    async def handler(message: Message) -> None:
        if number(message) == 3:
            await asyncio.Event().wait()  # never finishes: stopping cancels it
        seen.add(message)

    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        running = asyncio.create_task(
            consumer.run_pipelined(
                handler, stop=stop, max_in_flight=16, drain_timeout=timedelta(milliseconds=50)
            )
        )
        await seen.until(lambda: len(seen.handled) == 7, "every message but the stuck one")
        stop.set()
        await asyncio.wait_for(running, DEADLINE)
    async with bus.consumer([bus.topics.runs], group="g") as second:
        again = await drain(second, 5)
        await assert_quiet(second)
    assert [number(m) for m in again] == [3, 4, 5, 6, 7]


async def test_pipelined_a_failure_rewinds_its_partition(bus: Bus) -> None:
    sent = await publish(bus, runs=1, per_run=8)
    seen, stop, retried = Seen(), asyncio.Event(), asyncio.Event()
    attempts: list[int] = []

    async def handler(message: Message) -> None:
        attempts.append(number(message))
        if number(message) == 1:  # still running when 3 fails, and until 3 is retried
            await retried.wait()
        if number(message) == 3:
            if attempts.count(3) == 1:
                raise RuntimeError("database unavailable")
            retried.set()
        seen.add(message)

    async with bus.consumer([bus.topics.runs], group="g") as consumer:
        running = asyncio.create_task(
            consumer.run_pipelined(
                handler, stop=stop, max_in_flight=16, retry_delay=timedelta(milliseconds=10)
            )
        )
        await seen.until(lambda: set(seen.handled) == sent, "every message after the retry")
        stop.set()
        await asyncio.wait_for(running, DEADLINE)
    assert attempts.count(3) == 2
    # before the failed message: handled once, the running one undisturbed
    assert [attempts.count(n) for n in range(3)] == [1, 1, 1]
    retried_from = attempts.index(3) + 1
    assert attempts[retried_from:][attempts[retried_from:].index(3) :][:5] == [3, 4, 5, 6, 7]
    async with bus.consumer([bus.topics.runs], group="g") as after:
        await assert_quiet(after)


async def test_pipelined_a_rebalance_mid_flight_loses_nothing(bus: Bus) -> None:
    group, runs = "g", bus.topics.runs
    sent = await publish(bus, runs=8, per_run=3)  # runs 0-7 cover all four partitions
    seen_a, seen_b, release = Seen(), Seen(), asyncio.Event()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()

    async def slow_a(message: Message) -> None:
        if number(message) == 1:  # a is stuck in the middle of every run
            await release.wait()
        seen_a.add(message)

    async def quick_b(message: Message) -> None:
        seen_b.add(message)

    def handled() -> set[str]:
        return set(seen_a.handled) | set(seen_b.handled)

    a = bus.consumer([runs], group=group, max_batch=5)
    b = bus.consumer([runs], group=group, max_batch=5)
    await a.start()
    running_a = asyncio.create_task(a.run_pipelined(slow_a, stop=stop_a, max_in_flight=64))
    await seen_a.until(lambda: len(seen_a.handled) == 16, "a to handle all but the stuck ones")
    await b.start()
    running_b = asyncio.create_task(b.run_pipelined(quick_b, stop=stop_b, max_in_flight=64))
    later = await publish(bus, runs=8, per_run=3, first=3)
    sent |= later
    # b took over partitions from their committed offsets (the stuck messages) and a kept
    # the others, where everything after the stuck messages is handled meanwhile
    await seen_b.until(lambda: later <= handled(), "the later messages")
    assert seen_b.handled, "b never got a partition"
    stop_b.set()
    await asyncio.wait_for(running_b, DEADLINE)  # b committed everything it handled
    release.set()  # a's stuck handlers finish now, some for partitions a no longer owns
    await seen_a.until(lambda: handled() >= sent, "every message")
    stop_a.set()
    await asyncio.wait_for(running_a, DEADLINE)
    await a.close()
    await b.close()
    assert handled() == sent
    async with bus.consumer([runs], group=group) as after:
        await assert_quiet(after)  # nothing lost, and a's late commits did not move offsets back


async def test_consumer_lag_counts_what_the_group_has_not_fetched(bus: Bus) -> None:
    """`tideflow_consumer_lag_messages` is what this reports, per topic and group."""
    await publish(bus, runs=10, per_run=3)
    async with bus.consumer([bus.topics.runs], group="lagging", max_batch=5) as consumer:
        until = deadline()
        fetched = 0
        while fetched == 0:
            assert asyncio.get_running_loop().time() < until
            batch = await consumer.next_batch(max_wait=POLL)
            fetched = len(batch) if batch is not None else 0
        assert 0 < fetched <= 5
        lag = consumer.lag()
        assert {tp.topic for tp in lag} <= {bus.topics.runs}
        assert sum(lag.values()) == 30 - fetched
        scraped = generate_latest().decode()
        series = f'tideflow_consumer_lag_messages{{group="lagging",topic="{bus.topics.runs}"}}'
        assert f"{series} {float(30 - fetched)}" in scraped
        assert batch is not None
        await batch.commit()
        await drain(consumer, 30 - fetched)
        assert sum(consumer.lag().values()) == 0
