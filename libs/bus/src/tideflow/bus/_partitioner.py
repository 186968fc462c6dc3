"""Kafka's default partitioner (murmur2 of the key), with the recent keys remembered.

aiokafka's murmur2 is pure Python (~50 µs a call) and a run's key is hashed for each of
its messages (about three per step), which made it a few percent of a scheduler's CPU.
The in-memory bus places records with the same function, so a key lands on the same
partition number on both buses.
"""

from __future__ import annotations

import functools
import random
from typing import TYPE_CHECKING

from aiokafka.partitioner import murmur2

if TYPE_CHECKING:
    from collections.abc import Sequence


@functools.lru_cache(maxsize=65_536)
def key_hash(key: bytes) -> int:
    """The non-negative murmur2 hash Kafka partitions a keyed record by."""
    hashed: int = murmur2(key)
    return hashed & 0x7FFFFFFF


def partition_for(key: bytes | None, partitions: int, fallback: int) -> int:
    """Kafka's default partitioner for keyed records; `fallback` for unkeyed ones."""
    if key is None:
        return fallback % partitions
    return key_hash(key) % partitions


class CachedPartitioner:
    """aiokafka's `DefaultPartitioner`, hashing through `key_hash`."""

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)  # noqa: S311 - not security
        return all_partitions[key_hash(key) % len(all_partitions)]
