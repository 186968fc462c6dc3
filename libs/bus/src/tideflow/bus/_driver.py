"""`ConsumerDriver`: the small interface a broker adapter implements for a group member.

Five operations are all a consumption strategy needs from a broker: `fetch` records of the
partitions this member owns, `commit` offsets, `seek` back, the current `assignment`, and
an `epoch` per partition that changes whenever the partition is taken away (so work
fetched before a rebalance is recognisable). `KafkaBus` and `InMemoryBus` implement it;
the strategies (`_batch_loop`: batch by batch, `_pipeline`: message by message with
in-order commits) and `Batch` use nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import timedelta

    from tideflow.bus._records import Record, TopicPartition


class ConsumerDriver(ABC):
    """One member of a consumer group, as the broker sees it."""

    def __init__(self, topics: Sequence[str], *, group: str, max_batch: int) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.topics = tuple(topics)
        self.group = group
        self.max_batch = max_batch
        self._closed = False
        # bumped whenever a partition is taken away, so work fetched before is recognisable
        self._epochs: dict[TopicPartition, int] = {}

    @abstractmethod
    async def start(self) -> None:
        """Join the group; partitions are assigned (and rebalanced) from now on."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the group; whatever this member did not commit goes to another member."""

    @abstractmethod
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member currently owns."""

    @abstractmethod
    async def fetch(self, max_wait: timedelta | None, limit: int | None = None) -> list[Record]:
        """Up to max_batch (and `limit`) records from owned partitions, in offset order per
        partition; waits at most `max_wait` (forever when None) for the first one; [] on
        time-out."""

    @abstractmethod
    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit offsets of partitions still owned; False if any were not."""

    @abstractmethod
    async def seek(self, offsets: dict[TopicPartition, int]) -> None:
        """Move owned partitions back to the given offsets."""

    @property
    def closed(self) -> bool:
        return self._closed

    def epoch(self, tp: TopicPartition) -> int:
        """Changes whenever `tp` was taken from this member (even if given back since)."""
        return self._epochs.get(tp, 0)

    def lag(self) -> dict[TopicPartition, int]:
        """Per owned partition, records on the log this member has not fetched yet (the
        `tideflow_consumer_lag_messages` metric); adapters that cannot tell report none."""
        return {}

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Implementations call this when partitions are taken from this member."""
        for tp in partitions:
            self._epochs[tp] = self.epoch(tp) + 1
