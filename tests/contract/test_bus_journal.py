"""The in-process bus with its Postgres journal (`tide dev`): what survives a crash.

A crash is the journal's session ended by the server (`pg_terminate_backend`), with the
bus simply abandoned: nothing is flushed or closed on the way out, as after a SIGKILL.
The killed-process version of this, with runs in flight, is tests/chaos/test_dev_crash.py.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from tideflow.bus import (
    BusConnectionError,
    BusError,
    InMemoryBus,
    Message,
    PostgresJournal,
    RawOutgoing,
    Record,
    TopicPartition,
    Topics,
    encode_envelope,
    new_envelope,
    pb,
)
from tideflow.bus._pg_journal import write_statement
from tideflow.store import migrate
from tideflow.store.testing import Databases, with_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOPICS = Topics(prefix="journal")
WAIT = timedelta(milliseconds=200)


@pytest.fixture
async def dsn(databases: Databases) -> AsyncIterator[str]:
    name = await databases.create()
    url = with_database(databases.url, name)
    await migrate(url)
    yield url
    await databases.drop(name)


def journaled(dsn: str) -> InMemoryBus:
    return InMemoryBus(topics=TOPICS, default_partitions=1, journal=PostgresJournal(dsn))


async def crash(dsn: str) -> None:
    """End the journal's session from the server side, as if its process died (only this
    test's: a `tide dev` of another test on the same server keeps its journal)."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'tideflow-bus-journal' AND datname = current_database()"
        )
    finally:
        await admin.close()


async def send(bus: InMemoryBus, *values: bytes) -> None:
    await bus.publish_raw_batch([RawOutgoing(TOPICS.runs, b"k", v) for v in values])


async def read_all(bus: InMemoryBus, group: str) -> list[Message]:
    """Every message the group gets now (committing them), in offset order."""
    got: list[Message] = []
    async with bus.consumer([TOPICS.runs], group=group) as consumer:
        while (batch := await consumer.next_batch(max_wait=WAIT)) is not None:
            got += batch.messages
            await batch.commit()
    return got


def envelope_bytes(n: int) -> bytes:
    return encode_envelope(new_envelope(pb.Cancel(run_id=f"r{n}"), tenant_id="t", run_id="k"))


async def test_uncommitted_records_survive_a_crash_and_offsets_continue(dsn: str) -> None:
    first = journaled(dsn)
    await first.start()
    await send(first, *(envelope_bytes(n) for n in range(5)))
    assert len(await read_all(first, "g")) == 5  # committed
    await send(first, *(envelope_bytes(n) for n in range(5, 8)))  # published, not consumed
    await first.flush()  # commits are written without waiting: make sure this one was
    await crash(dsn)

    second = journaled(dsn)
    await second.start()
    again = await read_all(second, "g")
    assert [m.envelope.cancel.run_id for m in again] == ["r5", "r6", "r7"]
    assert [m.offset for m in again] == [5, 6, 7]
    everything = await read_all(second, "newcomer")
    assert [m.offset for m in everything] == list(range(8))
    await send(second, envelope_bytes(8))
    (latest,) = await read_all(second, "g")
    assert latest.offset == 8
    await second.close()
    await first.close()


async def test_a_second_bus_on_the_same_database_is_refused(dsn: str) -> None:
    first = journaled(dsn)
    await first.start()
    with pytest.raises(BusError, match="another process"):
        await journaled(dsn).start()
    await first.close()
    second = journaled(dsn)  # released on close
    await second.start()
    await second.close()


async def test_a_lost_connection_fails_the_publish_and_no_offset_is_used_twice(dsn: str) -> None:
    bus = journaled(dsn)
    await bus.start()
    await send(bus, envelope_bytes(0))
    sent = ["r0"]
    for n in range(1, 4):
        await crash(dsn)
        try:
            await send(bus, envelope_bytes(n))
        except BusConnectionError:
            continue  # the session was found dead mid-write; a later publish reconnects
        sent.append(f"r{n}")
    await send(bus, envelope_bytes(4))
    sent.append("r4")
    messages = await read_all(bus, "g")
    assert [m.offset for m in messages] == list(range(len(messages)))
    assert set(sent) <= {m.envelope.cancel.run_id for m in messages}
    await bus.close()
    reopened = journaled(dsn)
    await reopened.start()
    assert [m.offset for m in await read_all(reopened, "fresh")] == list(range(len(messages)))
    await reopened.close()


async def test_what_every_live_group_committed_is_pruned(dsn: str) -> None:
    bus = journaled(dsn)
    await bus.start()
    await send(bus, *(envelope_bytes(n) for n in range(10)))
    async with bus.consumer([TOPICS.runs], group="g") as consumer:
        batch = await consumer.next_batch(max_wait=WAIT)
        assert batch is not None
        assert len(batch) == 10
        await batch.commit()
        await bus.flush()
        await bus.prune()
    await bus.close()
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT count(*) FROM bus_records WHERE topic = $1",
                                    TOPICS.runs) == 0  # fmt: skip
    finally:
        await admin.close()
    reopened = journaled(dsn)
    await reopened.start()
    assert await read_all(reopened, "late") == []  # starts at the log's start: offset 10
    await send(reopened, envelope_bytes(10))
    (latest,) = await read_all(reopened, "g")
    assert latest.offset == 10
    await reopened.close()


async def test_concurrent_publishes_share_a_flush_and_get_distinct_offsets(dsn: str) -> None:
    bus = journaled(dsn)
    await bus.start()
    await asyncio.gather(*(send(bus, envelope_bytes(n), envelope_bytes(n)) for n in range(50)))
    messages = await read_all(bus, "g")
    assert [m.offset for m in messages] == list(range(100))
    assert collections.Counter(m.envelope.cancel.run_id for m in messages) == {
        f"r{n}": 2 for n in range(50)
    }
    await bus.close()


async def test_offsets_of_groups_gone_for_a_week_are_forgotten(dsn: str) -> None:
    bus = journaled(dsn)
    await bus.start()
    await send(bus, envelope_bytes(0))
    await read_all(bus, "gone")  # commits, then leaves: like a cancellation group
    async with bus.consumer([TOPICS.runs], group="live") as consumer:
        batch = await consumer.next_batch(max_wait=WAIT)
        assert batch is not None
        await batch.commit()
        await bus.flush()
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute("UPDATE bus_offsets SET updated_at = now() - interval '8 days'")
            await bus.prune()
            groups = await admin.fetch("SELECT DISTINCT consumer_group FROM bus_offsets")
        finally:
            await admin.close()
    assert [row["consumer_group"] for row in groups] == ["live"]
    await bus.close()


async def test_a_partly_committed_partition_keeps_its_offsets_after_a_prune(dsn: str) -> None:
    """Pruning below the log's end must not move the end: a record published after the
    prune gets the next offset and reaches the group (found with `tide dev`: a step result
    published after a prune got a reused, lower offset and its run waited forever)."""
    bus = journaled(dsn)
    await bus.start()
    await send(bus, *(envelope_bytes(n) for n in range(10)))
    async with bus.consumer([TOPICS.runs], group="g", max_batch=8) as consumer:
        batch = await consumer.next_batch(max_wait=WAIT)
        assert batch is not None
        assert [m.offset for m in batch] == list(range(8))
        await batch.commit()  # 8 and 9 not yet handled
        await bus.flush()
        await bus.prune()
        await send(bus, envelope_bytes(10))
        rest = await consumer.next_batch(max_wait=WAIT)
        assert rest is not None
        assert [(m.offset, m.envelope.cancel.run_id) for m in rest] == [
            (8, "r8"),
            (9, "r9"),
            (10, "r10"),
        ]
    await bus.close()
    reopened = journaled(dsn)  # the journal agrees: nothing lost, no offset reused
    await reopened.start()
    assert [m.offset for m in await read_all(reopened, "g")] == [8, 9, 10]
    await reopened.close()


async def test_one_write_of_topics_records_and_offsets_is_one_statement(dsn: str) -> None:
    """A durable write is one autocommitted statement whatever it carries, and it lands."""
    journal = PostgresJournal(dsn)
    await journal.open()
    statements: list[str] = []
    connection = await journal._connect()
    connection.add_query_logger(lambda record: statements.append(record.query))
    records = [Record("t.one", 0, n, b"k", b"v%d" % n, (("h", b"\x00"),)) for n in range(3)]
    tp = TopicPartition("t.one", 0)
    await journal.write(topics={"t.one": 1}, records=records, commits={("g", tp): 2})
    await asyncio.sleep(0.05)  # query loggers are called soon after, not during, the query
    ours = [q for q in statements if "bus_" in q or q.strip().upper() in {"BEGIN", "COMMIT"}]
    assert len(ours) == 1, statements  # (the driver's first-use type lookups aside)
    assert ours[0].startswith("WITH w0 AS")
    await journal.close()
    state = await PostgresJournal(dsn).open()
    assert state.topics["t.one"] == 1
    assert [(r.offset, r.value, r.headers) for r in state.records if r.topic == "t.one"] == [
        (n, b"v%d" % n, (("h", b"\x00"),)) for n in range(3)
    ]
    assert state.committed["g"][tp] == 2


async def test_an_offsets_only_write_is_one_statement_that_skips_the_fsync(dsn: str) -> None:
    """Committed offsets are written without waiting for the disk (a crash may forget the
    last ones: redelivery), in one autocommitted statement that turns `synchronous_commit`
    off for its own transaction only."""
    journal = PostgresJournal(dsn)
    await journal.open()
    tp = TopicPartition("t.one", 0)
    statements: list[str] = []
    connection = await journal._connect()
    connection.add_query_logger(lambda record: statements.append(record.query))
    await journal.write(topics={}, records=[], commits={("g", tp): 7}, durable=False)
    await asyncio.sleep(0.05)  # query loggers are called soon after, not during, the query
    ours = [q for q in statements if "bus_" in q or q.strip().upper() in {"BEGIN", "COMMIT"}]
    assert len(ours) == 1, statements
    assert "set_config('synchronous_commit', 'off', true)" in ours[0]
    # the statement's own transaction ran with it off; the session keeps its default
    statement, args = write_statement({}, [], {("g", tp): 8}, durable=False)
    assert await connection.fetchval(statement, *args) == "off"
    assert await connection.fetchval("SHOW synchronous_commit") == "on"
    await journal.close()
    assert (await PostgresJournal(dsn).open()).committed["g"][tp] == 8
