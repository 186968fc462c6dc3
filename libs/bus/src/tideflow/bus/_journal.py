"""The journal port: where the in-process bus keeps a durable copy of its logs.

Kafka is durable because the broker writes records and committed offsets to disk before
it acknowledges them. The in-process bus gets the same property from a journal: records
are written there (in one transaction per flush) before `publish` returns, committed
offsets right after, and `open` gives them back after a crash. `PostgresJournal` is the
implementation `tide dev` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import timedelta

    from tideflow.bus._records import Record, TopicPartition


@dataclass(frozen=True, slots=True)
class JournalState:
    """Everything a restarting bus needs: topics, retained records, committed offsets."""

    topics: dict[str, int] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    committed: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)


class Journal(Protocol):
    """A durable store of one bus's records and offsets; one writer at a time."""

    async def open(self) -> JournalState:
        """Claim the journal (refusing if another live bus holds it) and load it."""

    async def write(
        self,
        *,
        topics: Mapping[str, int],
        records: Sequence[Record],
        commits: Mapping[tuple[str, TopicPartition], int],
        durable: bool = True,
    ) -> None:
        """Store new topics, records and committed offsets atomically; raise on failure
        (the outcome is then unknown: the caller reads back with `records_from`).
        `durable=False` (offsets only) may skip waiting for the disk."""

    async def records_from(self, ends: Mapping[TopicPartition, int]) -> list[Record]:
        """Records at or after each partition's given offset, in offset order."""

    async def prune(self, floors: Mapping[TopicPartition, int]) -> None:
        """Forget each partition's records below its floor."""

    async def expire_offsets(self, *, keep: Collection[str], idle: timedelta) -> None:
        """Forget the offsets of groups not in `keep` that committed nothing for `idle`
        (Kafka's offsets retention: e.g. the per-process cancellation groups)."""

    async def close(self) -> None:
        """Release the journal."""
