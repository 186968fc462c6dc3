"""aiokafka's expected coordinator errors at start are dropped; nothing else is."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors

from tideflow.bus._quiet import COORDINATOR_LOGGER, FETCHER_LOGGER, quiet_startup_noise

pytestmark = pytest.mark.unit


@pytest.fixture
def coordinator_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=COORDINATOR_LOGGER)
    return caplog


def log_lookup_failure(error: Exception) -> None:
    # the exact call aiokafka makes in GroupCoordinator.ensure_coordinator_known
    logging.getLogger(COORDINATOR_LOGGER).error("Group Coordinator Request failed: %s", error)


def test_expected_errors_are_dropped_during_the_grace_period(coordinator_log) -> None:
    noise = quiet_startup_noise(grace_s=60)
    before = noise.dropped
    for error in (errors.GroupCoordinatorNotAvailableError(), errors.NotCoordinatorForGroupError(),
                  errors.GroupLoadInProgressError()):  # fmt: skip
        log_lookup_failure(error)
    logging.getLogger(COORDINATOR_LOGGER).warning(
        "Marking the coordinator dead (node %s)for group %s.", 1, "g"
    )
    assert coordinator_log.records == []
    assert noise.dropped == before + 4


def test_a_new_topic_without_a_leader_yet_is_expected(caplog) -> None:
    caplog.set_level(logging.INFO, logger=FETCHER_LOGGER)
    quiet_startup_noise(grace_s=60)
    fetcher = logging.getLogger(FETCHER_LOGGER)
    fetcher.error("Failed fetch offsets from %s: %s", 1, errors.NotLeaderForPartitionError())
    assert caplog.records == []
    fetcher.error("Failed fetch offsets from %s: %s", 1, errors.KafkaConnectionError())
    assert len(caplog.records) == 1


def test_other_errors_still_show(coordinator_log) -> None:
    quiet_startup_noise(grace_s=60)
    log_lookup_failure(errors.GroupAuthorizationFailedError())
    logging.getLogger(COORDINATOR_LOGGER).error("Heartbeat failed: %r", errors.KafkaError())
    assert len(coordinator_log.records) == 2


def test_after_the_grace_period_a_missing_coordinator_is_logged(coordinator_log) -> None:
    noise = quiet_startup_noise(grace_s=60)
    noise.quiet_until = 0.0  # the grace period is over
    log_lookup_failure(errors.GroupCoordinatorNotAvailableError())
    assert [r.levelno for r in coordinator_log.records] == [logging.ERROR]


def test_installed_once() -> None:
    first, second = quiet_startup_noise(), quiet_startup_noise()
    assert first is second
    assert logging.getLogger(COORDINATOR_LOGGER).filters.count(first) == 1
