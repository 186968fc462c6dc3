"""The bus's Prometheus metrics: consumer lag per topic and group, dead letters.

Lag is the client-side view every Kafka client reports (`records-lag`): per owned
partition, the log end offset minus the position this member has fetched up to, summed
per topic and group. It is read at scrape time from what the consumer already knows (the
high watermark of its last fetch), so it costs nothing between scrapes. The operator's
scaling reads the broker-side lag of the same groups (committed offsets); the two agree
except for records fetched and still being worked on.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tideflow.bus._driver import ConsumerDriver

DEAD_LETTERS = Counter(
    "tideflow_dead_letters_total",
    "Messages sent to the dead-letter topic, by consumer group and reason code.",
    ["group", "code"],
)


class ConsumerLag(Collector):
    """Reports the lag of every live consumer of this process at scrape time."""

    def __init__(self) -> None:
        self._consumers: weakref.WeakSet[ConsumerDriver] = weakref.WeakSet()

    def track(self, consumer: ConsumerDriver) -> None:
        self._consumers.add(consumer)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tideflow_consumer_lag_messages",
            "Messages on the topic not yet fetched by the consumer group's members in this "
            "process (log end offset minus fetch position, summed over owned partitions).",
            labels=["topic", "group"],
        )
        totals: dict[tuple[str, str], int] = {}
        for consumer in list(self._consumers):
            if consumer.closed:
                continue
            for topic in consumer.topics:
                totals.setdefault((topic, consumer.group), 0)
            for tp, lag in consumer.lag().items():
                key = (tp.topic, consumer.group)
                totals[key] = totals.get(key, 0) + lag
        for (topic, group), lag in sorted(totals.items()):
            family.add_metric([topic, group], lag)
        yield family


CONSUMER_LAG = ConsumerLag()
REGISTRY.register(CONSUMER_LAG)
