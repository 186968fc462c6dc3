"""Which handler failures the scheduler retries without bound (an outage, never a poison)."""

from __future__ import annotations

import pytest

from tideflow.bus import BusConnectionError
from tideflow.scheduler.app import _transient
from tideflow.scheduler.handlers import Unprocessable
from tideflow.store import ConcurrencyConflict, InvalidData, StoreError, StoreUnavailable

pytestmark = pytest.mark.unit


def wrapped(inner: Exception) -> Exception:
    outer = RuntimeError("while committing")
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("db restarting"),
        BusConnectionError("broker away"),
        ConcurrencyConflict(),
        ConnectionRefusedError(),
        wrapped(ConnectionResetError()),
    ],
)
def test_outages_are_transient(error: Exception) -> None:
    assert _transient(error)


@pytest.mark.parametrize(
    "error",
    [InvalidData("too deep"), Unprocessable("decide raised"), StoreError("bug"), KeyError()],
)
def test_other_failures_count_towards_the_bound(error: Exception) -> None:
    assert not _transient(error)
