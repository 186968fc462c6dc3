"""Tasks the observability stack's executor loads (`--module obs_tasks`)."""

from __future__ import annotations

import logging

from tideflow.sdk import task

log = logging.getLogger("obs_tasks")
_flaky_seen: set[int] = set()


@task("obs.ok")
def ok(value: int) -> int:
    return value + 1


@task("obs.flaky")
def flaky(value: int) -> int:
    """Fails the first call for each value: one retry per run."""
    if value not in _flaky_seen:
        _flaky_seen.add(value)
        raise RuntimeError("first call fails")
    return value


@task("obs.fail")
def fail(value: int) -> int:
    log.warning("failing on purpose for %s", value)
    raise ValueError(f"always fails ({value})")
