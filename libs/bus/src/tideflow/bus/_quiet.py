"""Keep aiokafka's expected start-up errors out of the logs, and only those.

Against a fresh Kafka the group coordinator does not exist until the offsets topic has
been created, so every consumer's first coordinator lookups fail with a retriable
`GroupCoordinatorNotAvailableError` (or "not coordinator" / "load in progress") that
aiokafka logs at ERROR, and the coordinator it found first is then "marked dead" (a
WARNING) while the offsets topic moves in. Likewise a topic the bus has just created
has no partition leader for a moment, so the first offset fetch fails with "not leader"
(ERROR). aiokafka retries all of these on its own. These alarming lines call for no
action, so they are dropped for a grace period after the bus starts; the same errors
after that are real problems and are logged as before.
"""

from __future__ import annotations

import logging
import time

from aiokafka import errors

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
FETCHER_LOGGER = "aiokafka.consumer.fetcher"
EXPECTED_AT_START = (
    errors.GroupCoordinatorNotAvailableError,
    errors.NotCoordinatorForGroupError,
    errors.GroupLoadInProgressError,
    errors.NotLeaderForPartitionError,
    errors.LeaderNotAvailableError,
    errors.UnknownTopicOrPartitionError,
)
MARKED_DEAD = "Marking the coordinator dead"
GRACE_S = 60.0


class StartupNoiseFilter(logging.Filter):
    """Drops the expected retriable start-up errors until `quiet_until` (monotonic)."""

    def __init__(self) -> None:
        super().__init__()
        self.quiet_until = 0.0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if time.monotonic() > self.quiet_until:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        expected = any(isinstance(arg, EXPECTED_AT_START) for arg in args) or str(
            record.msg
        ).startswith(MARKED_DEAD)
        if expected:
            self.dropped += 1
        return not expected


def quiet_startup_noise(grace_s: float = GRACE_S) -> StartupNoiseFilter:
    """Install (once per process, on aiokafka's coordinator and fetcher loggers) or extend
    the filter; returns it."""
    coordinator = logging.getLogger(COORDINATOR_LOGGER)
    found = next((f for f in coordinator.filters if isinstance(f, StartupNoiseFilter)), None)
    if found is None:
        found = StartupNoiseFilter()
        for name in (COORDINATOR_LOGGER, FETCHER_LOGGER):
            logging.getLogger(name).addFilter(found)
    found.quiet_until = max(found.quiet_until, time.monotonic() + grace_s)
    return found
