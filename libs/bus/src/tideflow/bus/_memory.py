"""An in-process bus with Kafka's delivery semantics, for `tide dev` and fast tests.

It mirrors what services rely on, not Kafka's internals: records are appended to
partitioned logs (the partition is chosen with Kafka's own murmur2 hash, so a key lands on
the same partition number as on a real cluster of the same size); a consumer group keeps
committed offsets; each group sees every record; within a group the partitions of a topic
are spread over the members subscribed to it and spread again whenever a member joins or
leaves. A member that gets a partition starts at the group's committed offset, so whatever
the previous owner fetched but did not commit is delivered again (at-least-once). Records
are stored encoded, so decoding and dead-lettering run exactly as they do against Kafka.

Durability comes from an optional `Journal` (`tide dev` uses `PostgresJournal`). With one,
`publish` returns only once its records are in the journal, committed offsets follow
without anyone waiting (group commit: one writer task flushes everything pending in one
transaction, so concurrent publishers share a round trip), and `start` loads the logs and
offsets back: after a crash every record some group had not committed (or whose commit
had not reached the journal) is delivered again, exactly as Kafka does. A failed flush
fails its publishes (`BusConnectionError`; callers retry or leave the work to their
outbox relay) and marks the logs for a read-back, because the write may have landed all
the same: the next flush first loads what the journal holds beyond memory, so no offset
is ever given to two records. Failed commits are kept and written with the next flush.
Records every live group of a topic has committed past are pruned from memory and
journal; topics no group reads keep their last `retain` records per partition; offsets of
groups without members that committed nothing for 7 days are forgotten, as Kafka does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.bus._errors import BusConnectionError, BusError
from tideflow.bus._partitioner import partition_for
from tideflow.bus._port import Bus, Consumer
from tideflow.bus._records import Record, TopicPartition
from tideflow.bus._topics import Topics

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tideflow.bus._journal import Journal, JournalState
    from tideflow.bus._outgoing import RawOutgoing

log = logging.getLogger("tideflow.bus.memory")

RETAIN = 10_000
OFFSETS_RETENTION = timedelta(days=7)  # Kafka's default offsets.retention.minutes
PRUNE_EVERY = 60.0
OFFSETS_LINGER = 0.05
CLOSE_WAIT = 20.0  # past the journal's statement timeout
"""How long committed offsets wait for company before they are written on their own: at
low rates every consumed batch of every group committed alone (a round trip and a
transaction each, most of a quiet step's cost); a crash forgets at most this much more,
delivered again, which every consumer absorbs."""


class _Partition:
    """One partition's retained records: offsets `base` .. `end - 1`."""

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.records: list[Record] = []

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    def read(self, position: int, limit: int) -> list[Record]:
        start = max(position, self.base) - self.base
        return self.records[start : start + limit]

    def trim(self, floor: int) -> None:
        """Forget the records below `floor`; the offsets of the rest (and the end) stay."""
        if floor > self.base:
            del self.records[: min(floor, self.end) - self.base]
            self.base = floor


class _Pending:
    """Publishes and commits waiting for the journal writer."""

    def __init__(self) -> None:
        self.publishes: list[tuple[Sequence[RawOutgoing], asyncio.Future[None]]] = []
        self.commits: dict[tuple[str, TopicPartition], int] = {}
        self.waiters: list[asyncio.Future[None]] = []  # flush() callers
        self.topics: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.publishes or self.commits or self.topics or self.waiters)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None = None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class _Group:
    def __init__(self) -> None:
        self.members: list[_MemoryConsumer] = []
        self.committed: dict[TopicPartition, int] = {}
        self.owner: dict[TopicPartition, _MemoryConsumer] = {}


class InMemoryBus(Bus):
    """All topics and groups live in this object; share one instance within a process."""

    def __init__(
        self,
        *,
        topics: Topics | None = None,
        default_partitions: int = 4,
        journal: Journal | None = None,
        retain: int = RETAIN,
    ) -> None:
        super().__init__(topics=topics or Topics())
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.default_partitions = default_partitions
        self._logs: dict[str, list[_Partition]] = {}
        self._groups: dict[str, _Group] = {}
        self._wakeup = asyncio.Event()
        self._unkeyed = itertools.count()
        self._started = False
        self._journal = journal
        self._retain = retain
        self._pending = _Pending()
        self._kick = asyncio.Event()
        self._urgent = asyncio.Event()  # a publish, topic or flush() waits for the writer
        self._closing = False
        self._read_back = False
        self._writer: asyncio.Task[None] | None = None
        self._journaled_topics: set[str] = set()  # rows of bus_topics known to exist

    async def start(self) -> None:
        if self._journal is not None and self._writer is None:
            self._restore(await self._journal.open())
            self._closing = False
            self._writer = asyncio.create_task(self._write_loop(), name="bus-journal")
        self._started = True

    async def close(self) -> None:
        for group in list(self._groups.values()):
            for member in list(group.members):
                await member.close()
        self._started = False
        writer, self._writer = self._writer, None
        if writer is not None and self._journal is not None:
            # asked to stop rather than cancelled: on Python 3.11 a cancel that lands as
            # the writer's wait ends is lost (`wait_for`), and closing would then wait
            # for the next prune; a writer stuck on the journal is cancelled after a while
            self._closing = True
            self._wake(urgent=True)
            _, running = await asyncio.wait({writer}, timeout=CLOSE_WAIT)
            if running:
                log.warning("bus journal: the writer did not stop in time; cancelled")
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            try:
                await self._flush()  # what was pending when we were asked to close
            except Exception:  # unwritten work is redelivered after a restart
                log.warning("bus journal: the last flush failed", exc_info=True)
            with contextlib.suppress(Exception):
                await self._journal.close()

    def _restore(self, state: JournalState) -> None:
        """Rebuild logs and committed offsets from the journal (offsets continue)."""
        ends: dict[TopicPartition, int] = {}
        for offsets in state.committed.values():
            for tp, offset in offsets.items():
                ends[tp] = max(ends.get(tp, 0), offset)
        by_tp: dict[TopicPartition, list[Record]] = {}
        for record in state.records:
            by_tp.setdefault(record.topic_partition, []).append(record)
        for topic, count in state.topics.items():
            partitions = []
            for number in range(count):
                tp = TopicPartition(topic, number)
                records = by_tp.get(tp, [])
                partition = _Partition(base=records[0].offset if records else ends.get(tp, 0))
                partition.records = records
                partitions.append(partition)
            self._logs[topic] = partitions
        for name, offsets in state.committed.items():
            self._groups.setdefault(name, _Group()).committed.update(offsets)
        self._journaled_topics.update(state.topics)

    async def ensure_topics(self, names: Iterable[str], *, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        for name in names:
            self._log(name, partitions)

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        if not self._started:
            raise BusError("bus is not started")
        if self._journal is None:
            self._append(self._place(records))
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.publishes.append((records, done))
        self._wake(urgent=True)
        await done

    def _place(self, records: Sequence[RawOutgoing]) -> list[Record]:
        """Partitions and offsets for new records, continuing each partition's log (all of
        one flush in one call: offsets count on from the records placed before them)."""
        placed: list[Record] = []
        next_offset: dict[TopicPartition, int] = {}
        for outgoing in records:
            log = self._log(outgoing.topic, self.default_partitions)
            number = partition_for(outgoing.key, len(log), next(self._unkeyed))
            tp = TopicPartition(outgoing.topic, number)
            offset = next_offset.get(tp, log[number].end)
            next_offset[tp] = offset + 1
            placed.append(
                Record(
                    topic=outgoing.topic,
                    partition=number,
                    offset=offset,
                    key=outgoing.key,
                    value=outgoing.value,
                    headers=outgoing.headers,
                )
            )
        return placed

    def _append(self, records: Iterable[Record]) -> None:
        for record in records:
            partition = self._logs[record.topic][record.partition]
            if record.offset == partition.end:
                partition.records.append(record)
        self._notify()

    async def _write_loop(self) -> None:
        """The journal's single writer: flush whatever is pending, prune now and then."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_EVERY
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=PRUNE_EVERY)
            if not self._urgent.is_set():  # offsets only: let others join them
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), timeout=OFFSETS_LINGER)
            self._urgent.clear()
            self._kick.clear()
            try:
                await self._flush()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + PRUNE_EVERY
                    await self.prune()
            except Exception as e:  # noqa: BLE001 - the writer must outlive any failure
                log.warning("bus journal unavailable (%s); retrying", e)
                await asyncio.sleep(0.2)
                if self._pending:
                    self._wake(urgent=True)

    async def _flush(self) -> None:
        """One transaction for everything pending; publishes fail with it, commits wait."""
        assert self._journal is not None  # noqa: S101 - only called with a journal
        pending, self._pending = self._pending, _Pending()
        if not pending:
            return
        placed: list[Record] = []
        try:
            if self._read_back:
                ends = {
                    TopicPartition(topic, n): p.end
                    for topic, partitions in self._logs.items()
                    for n, p in enumerate(partitions)
                }
                self._append(await self._journal.records_from(ends))
                self._read_back = False
            placed = self._place([r for records, _ in pending.publishes for r in records])
            topics = pending.topics | self._new_topics(placed)
            await self._journal.write(
                topics=topics,
                records=placed,
                commits=pending.commits,
                durable=bool(placed or pending.topics),
            )
        except Exception as e:  # whatever the driver raised: nobody may wait forever
            self._requeue(pending, wrote_records=bool(placed))
            _settle([done for _, done in pending.publishes], BusConnectionError(str(e)))
            _settle(pending.waiters)
            raise
        self._journaled_topics.update(topics)
        self._append(placed)
        _settle([done for _, done in pending.publishes])
        _settle(pending.waiters)

    def _wake(self, *, urgent: bool) -> None:
        """Wake the writer; `urgent` when someone waits for the write (not offsets)."""
        if urgent:
            self._urgent.set()
        self._kick.set()

    def _requeue(self, failed: _Pending, *, wrote_records: bool) -> None:
        """After a failed flush: keep its commits and topics; read back before placing
        records again (the write may have landed all the same)."""
        self._read_back = self._read_back or wrote_records
        for key, offset in failed.commits.items():
            self._pending.commits.setdefault(key, offset)
        for topic, count in failed.topics.items():
            self._pending.topics.setdefault(topic, count)

    def _new_topics(self, records: list[Record]) -> dict[str, int]:
        """Topics of `records` with no journal row yet (an upsert per flush would cost a
        statement in every publish's transaction)."""
        return {
            r.topic: len(self._logs[r.topic])
            for r in records
            if r.topic not in self._journaled_topics
        }

    async def prune(self) -> None:
        """Drop what every live group of a topic has committed; cap unread topics.

        The journal's writer calls it every `PRUNE_EVERY` seconds; without a journal
        nothing is pruned (tests may read a topic from its start at any time)."""
        if self._journal is None:
            return
        floors: dict[TopicPartition, int] = {}
        for topic, partitions in self._logs.items():
            groups = [g for g in self._groups.values() if any(topic in m.topics for m in g.members)]
            for number, partition in enumerate(partitions):
                tp = TopicPartition(topic, number)
                if groups:
                    floor = min(g.committed.get(tp, partition.base) for g in groups)
                else:
                    floor = partition.end - self._retain
                if floor > partition.base:
                    floors[tp] = floor
        if floors:
            await self._journal.prune(floors)
            for tp, floor in floors.items():
                self._logs[tp.topic][tp.partition].trim(floor)
        live = [name for name, group in self._groups.items() if group.members]
        await self._journal.expire_offsets(keep=live, idle=OFFSETS_RETENTION)

    def consumer(self, topics: Sequence[str], *, group: str, max_batch: int = 500) -> Consumer:
        return _MemoryConsumer(self, topics, group=group, max_batch=max_batch)

    def _queue_commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        """Committed offsets go to the journal with the next flush; nobody waits for it.

        A crash can forget the last commits: those messages are delivered again, which
        every consumer absorbs (that is what at-least-once means). Waiting would cost a
        synchronous disk flush per consumed batch."""
        if self._journal is None or not offsets:
            return
        for tp, offset in offsets.items():
            self._pending.commits[group, tp] = offset
        self._wake(urgent=False)

    async def flush(self) -> None:
        """Wait until everything published or committed so far was written (or failed)."""
        if self._journal is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.waiters.append(done)
        self._wake(urgent=True)
        await done

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next record of the partition will get (0: no such partition)."""
        log = self._logs.get(tp.topic, [])
        return log[tp.partition].end if tp.partition < len(log) else 0

    def partitions(self, topic: str) -> int:
        """How many partitions a topic has (0 if it does not exist yet)."""
        return len(self._logs.get(topic, []))

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offsets, for inspection in `tide dev` and tests."""
        return dict(self._groups[group].committed) if group in self._groups else {}

    def _log(self, topic: str, partitions: int) -> list[_Partition]:
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[topic] = [_Partition() for _ in range(partitions)]
            if self._journal is not None:
                self._pending.topics[topic] = partitions
                self._wake(urgent=True)
            for group in self._groups.values():
                self._rebalance(group)
        return log

    def _notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    # The members' side of the bus (a member and its bus are one unit: these are called by
    # `_MemoryConsumer` only).

    @property
    def wakeup(self) -> asyncio.Event:
        """Set (and replaced) whenever records arrive or partitions move."""
        return self._wakeup

    def join(self, member: _MemoryConsumer) -> None:
        for topic in member.topics:
            self._log(topic, self.default_partitions)
        group = self._groups.setdefault(member.group, _Group())
        group.members.append(member)
        self._rebalance(group)

    def leave(self, member: _MemoryConsumer) -> None:
        group = self._groups[member.group]
        if member in group.members:
            group.members.remove(member)
            self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        owner: dict[TopicPartition, _MemoryConsumer] = {}
        for topic in sorted({t for m in group.members for t in m.topics}):
            subscribers = [m for m in group.members if topic in m.topics]
            for partition in range(len(self._logs.get(topic, []))):
                owner[TopicPartition(topic, partition)] = subscribers[partition % len(subscribers)]
        group.owner = owner
        for member in group.members:
            owned = {tp for tp, m in owner.items() if m is member}
            revoked = set(member.positions) - owned
            for tp in revoked:
                del member.positions[tp]
            member.revoked(revoked)
            for tp in owned - set(member.positions):
                base = self._logs[tp.topic][tp.partition].base
                member.positions[tp] = max(group.committed.get(tp, base), base)
        self._notify()

    def take(self, member: _MemoryConsumer, limit: int) -> list[Record]:
        owned = sorted(member.positions)
        if not owned:
            return []
        start = next(member.rotation) % len(owned)  # fairness between partitions
        taken: list[Record] = []
        for tp in owned[start:] + owned[:start]:
            room = limit - len(taken)
            if room <= 0:
                break
            partition = self._logs[tp.topic][tp.partition]
            position = max(member.positions[tp], partition.base)
            chunk = partition.read(position, room)
            if chunk:
                taken.extend(chunk)
                member.positions[tp] = position + len(chunk)
        return taken

    async def commit_for(self, member: _MemoryConsumer, offsets: dict[TopicPartition, int]) -> bool:
        group = self._groups.get(member.group)
        if group is None or member.closed:
            return False
        owned = {tp: offset for tp, offset in offsets.items() if group.owner.get(tp) is member}
        group.committed.update(owned)
        self._queue_commit(member.group, owned)
        return len(owned) == len(offsets)


class _MemoryConsumer(Consumer):
    def __init__(
        self, bus: InMemoryBus, topics: Sequence[str], *, group: str, max_batch: int
    ) -> None:
        super().__init__(bus, topics, group=group, max_batch=max_batch)
        self._memory = bus
        self.positions: dict[TopicPartition, int] = {}
        self.rotation = itertools.count()
        self._started = False

    async def start(self) -> None:
        if self._started:
            raise BusError("consumer already started")
        self._started = True
        self._memory.join(self)

    async def close(self) -> None:
        if self._started and not self._closed:
            self._closed = True
            self._memory.leave(self)
            self.positions.clear()

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self.positions)

    def lag(self) -> dict[TopicPartition, int]:
        return {
            tp: max(0, self._memory.end_offset(tp) - position)
            for tp, position in self.positions.items()
        }

    async def fetch(self, max_wait: timedelta | None, limit: int | None = None) -> list[Record]:
        if not self._started:
            raise BusError("consumer is not started")
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait.total_seconds()
        while not self._closed:
            wakeup = self._memory.wakeup
            records = self._memory.take(self, min(limit or self.max_batch, self.max_batch))
            if records:
                return records
            if deadline is None:
                await wakeup.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(wakeup.wait(), timeout=remaining)
            except TimeoutError:
                return []
        return []

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        return await self._memory.commit_for(self, offsets)

    async def seek(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self.positions:
                self.positions[tp] = offset
