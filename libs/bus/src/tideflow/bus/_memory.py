"""An in-process bus with Kafka's delivery semantics, for `tide dev` and fast tests.

It mirrors what services rely on, not Kafka's internals: records are appended to
partitioned logs (the partition is chosen with Kafka's own murmur2 hash, so a key lands on
the same partition number as on a real cluster of the same size); a consumer group keeps
committed offsets; each group sees every record; within a group the partitions of a topic
are spread over the members subscribed to it and spread again whenever a member joins or
leaves. A member that gets a partition starts at the group's committed offset, so whatever
the previous owner fetched but did not commit is delivered again (at-least-once). Records
are stored encoded, so decoding and dead-lettering run exactly as they do against Kafka.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

from aiokafka.partitioner import murmur2

from tideflow.bus._errors import BusError
from tideflow.bus._port import Bus, Consumer, RawOutgoing, Record, TopicPartition
from tideflow.bus._topics import Topics

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import timedelta


def partition_for(key: bytes | None, partitions: int, fallback: int) -> int:
    """Kafka's default partitioner for keyed records; `fallback` for unkeyed ones."""
    if key is None:
        return fallback % partitions
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class _Group:
    def __init__(self) -> None:
        self.members: list[_MemoryConsumer] = []
        self.committed: dict[TopicPartition, int] = {}
        self.owner: dict[TopicPartition, _MemoryConsumer] = {}


class InMemoryBus(Bus):
    """All topics and groups live in this object; share one instance within a process."""

    def __init__(self, *, topics: Topics | None = None, default_partitions: int = 4) -> None:
        super().__init__(topics=topics or Topics())
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.default_partitions = default_partitions
        self._logs: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = {}
        self._wakeup = asyncio.Event()
        self._unkeyed = itertools.count()
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        for group in list(self._groups.values()):
            for member in list(group.members):
                await member.close()
        self._started = False

    async def ensure_topics(self, names: Iterable[str], *, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        for name in names:
            self._log(name, partitions)

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        if not self._started:
            raise BusError("bus is not started")
        for outgoing in records:
            log = self._log(outgoing.topic, self.default_partitions)
            partition = partition_for(outgoing.key, len(log), next(self._unkeyed))
            entries = log[partition]
            entries.append(
                Record(
                    topic=outgoing.topic,
                    partition=partition,
                    offset=len(entries),
                    key=outgoing.key,
                    value=outgoing.value,
                    headers=outgoing.headers,
                )
            )
        self._notify()

    def consumer(self, topics: Sequence[str], *, group: str, max_batch: int = 500) -> Consumer:
        return _MemoryConsumer(self, topics, group=group, max_batch=max_batch)

    def partitions(self, topic: str) -> int:
        """How many partitions a topic has (0 if it does not exist yet)."""
        return len(self._logs.get(topic, []))

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offsets, for inspection in `tide dev` and tests."""
        return dict(self._groups[group].committed) if group in self._groups else {}

    def _log(self, topic: str, partitions: int) -> list[list[Record]]:
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[topic] = [[] for _ in range(partitions)]
            for group in self._groups.values():
                self._rebalance(group)
        return log

    def _notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _join(self, member: _MemoryConsumer) -> None:
        for topic in member.topics:
            self._log(topic, self.default_partitions)
        group = self._groups.setdefault(member.group, _Group())
        group.members.append(member)
        self._rebalance(group)

    def _leave(self, member: _MemoryConsumer) -> None:
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
            member._revoked(revoked)  # noqa: SLF001
            for tp in owned - set(member.positions):
                member.positions[tp] = group.committed.get(tp, 0)
        self._notify()

    def _take(self, member: _MemoryConsumer, limit: int) -> list[Record]:
        owned = sorted(member.positions)
        if not owned:
            return []
        start = next(member.rotation) % len(owned)  # fairness between partitions
        taken: list[Record] = []
        for tp in owned[start:] + owned[:start]:
            room = limit - len(taken)
            if room <= 0:
                break
            entries = self._logs[tp.topic][tp.partition]
            position = member.positions[tp]
            chunk = entries[position : position + room]
            if chunk:
                taken.extend(chunk)
                member.positions[tp] = position + len(chunk)
        return taken

    def _commit(self, member: _MemoryConsumer, offsets: dict[TopicPartition, int]) -> bool:
        group = self._groups.get(member.group)
        if group is None or member.closed:
            return False
        owned = {tp: offset for tp, offset in offsets.items() if group.owner.get(tp) is member}
        group.committed.update(owned)
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
        self._memory._join(self)  # noqa: SLF001 - the bus and its consumers are one unit

    async def close(self) -> None:
        if self._started and not self._closed:
            self._closed = True
            self._memory._leave(self)  # noqa: SLF001
            self.positions.clear()

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self.positions)

    async def _fetch(self, max_wait: timedelta | None, limit: int | None = None) -> list[Record]:
        if not self._started:
            raise BusError("consumer is not started")
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait.total_seconds()
        while not self._closed:
            wakeup = self._memory._wakeup  # noqa: SLF001
            records = self._memory._take(self, min(limit or self.max_batch, self.max_batch))  # noqa: SLF001
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

    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        return self._memory._commit(self, offsets)  # noqa: SLF001

    async def _seek(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self.positions:
                self.positions[tp] = offset
