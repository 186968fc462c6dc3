"""The remembered-hash partitioner places every key where aiokafka's default one does."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from tideflow.bus import partition_for
from tideflow.bus._partitioner import CachedPartitioner

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 3, 8, 24])
def test_keyed_records_land_where_kafkas_partitioner_puts_them(count: int) -> None:
    partitions = list(range(count))
    ours, theirs = CachedPartitioner(), DefaultPartitioner()
    for i in range(500):
        key = f"0b6c{i:04x}-run".encode()
        expected = theirs(key, partitions, partitions)
        assert ours(key, partitions, partitions) == expected
        assert ours(key, partitions, partitions) == expected  # remembered: still the same
        assert partition_for(key, count, 0) == expected


def test_unkeyed_records_go_to_an_available_partition() -> None:
    ours = CachedPartitioner()
    assert {ours(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {ours(None, [0, 1], []) for _ in range(50)} <= {0, 1}
