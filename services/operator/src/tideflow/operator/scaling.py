"""The replica decision for one worker pool: a pure function of policy, lag, replicas, time.

`decide_replicas(policy, lag=, current=, now=, memory=)` returns how many replicas the
Deployment should have and why, plus the memory the next call needs (when the pool last
scaled up and down, since when the queue has been empty). It does no IO and reads no
clock, so it is tested exhaustively (`services/operator/tests/test_scaling.py`) and the
operator only moves numbers between Kafka, Kubernetes and this function.

The rules, in order:

1. Bounds win over everything: below `min_replicas` or above `max_replicas` the pool is
   brought back at once, whatever the cooldowns and steps.
2. From zero: work waiting (lag > 0) starts the pool right away (no cooldown: nobody is
   consuming), with `ceil(lag / target)` replicas up to one step, and at least the minimum.
3. To zero (only with `scale_to_zero`): once the lag has been 0 for `idle_before_zero`
   and the scale-down cooldown has passed.
4. Otherwise the wanted size is `ceil(lag / target_lag)` within the bounds. Hysteresis:
   nothing changes while `lag / (current * target)` is within `1 +- tolerance`, and the
   wanted size is a fixed point (once reached, the same lag wants it again), so a steady
   lag never makes the pool flap. Scaling up waits `scale_up_cooldown` after the last
   scale-up and adds at most `max_up_step`; scaling down waits `scale_down_cooldown` after
   any scaling and removes at most `max_down_step`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tideflow.operator.resources import WorkerPoolSpec


class ScaleReason(StrEnum):
    """Why a decision was made; shown in the WorkerPool's status and events."""

    STEADY = "Steady"
    """The lag is what the current replicas are sized for (within the tolerance)."""
    SATURATED = "AtMaxReplicas"
    """More replicas are wanted than `maxReplicas` allows."""
    SCALE_UP = "ScaleUp"
    SCALE_DOWN = "ScaleDown"
    UP_COOLDOWN = "ScaleUpCooldown"
    DOWN_COOLDOWN = "ScaleDownCooldown"
    ACTIVATE = "ScaleFromZero"
    TO_ZERO = "ScaleToZero"
    IDLE = "Idle"
    """Zero replicas and nothing to do."""
    BELOW_MIN = "BelowMinReplicas"
    ABOVE_MAX = "AboveMaxReplicas"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """A WorkerPool's scaling rules, in plain Python types."""

    min_replicas: int = 1
    max_replicas: int = 10
    target_lag: int = 100
    tolerance: float = 0.1
    scale_up_cooldown: timedelta = timedelta(seconds=30)
    scale_down_cooldown: timedelta = timedelta(minutes=5)
    max_up_step: int = 4
    max_down_step: int = 1
    scale_to_zero: bool = False
    idle_before_zero: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 1 <= min_replicas <= max_replicas")
        if self.target_lag < 1 or self.max_up_step < 1 or self.max_down_step < 1:
            raise ValueError("target_lag and the steps must be at least 1")
        if not 0 <= self.tolerance <= 1:
            raise ValueError("tolerance must be within 0..1")

    @classmethod
    def of(cls, spec: WorkerPoolSpec) -> ScalingPolicy:
        """The policy a WorkerPool spec declares."""
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            target_lag=spec.target_lag_per_replica,
            tolerance=spec.tolerance,
            scale_up_cooldown=spec.scale_up_cooldown,
            scale_down_cooldown=spec.scale_down_cooldown,
            max_up_step=spec.max_scale_up_step,
            max_down_step=spec.max_scale_down_step,
            scale_to_zero=spec.scale_to_zero,
            idle_before_zero=spec.idle_before_zero,
        )

    def wanted(self, lag: int) -> int:
        """Replicas sized for `lag`, within the bounds (the fixed point of the scaler)."""
        return min(self.max_replicas, max(self.min_replicas, math.ceil(lag / self.target_lag)))


@dataclass(frozen=True, slots=True)
class ScalingMemory:
    """What a decision needs from earlier ones (kept in the WorkerPool's status)."""

    last_scale_up: datetime | None = None
    last_scale_down: datetime | None = None
    idle_since: datetime | None = None

    def last_scaled(self) -> datetime | None:
        """The latest scaling in either direction."""
        times = [t for t in (self.last_scale_up, self.last_scale_down) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class Decision:
    """The replicas to set, why, and the memory for the next decision."""

    replicas: int
    reason: ScaleReason
    memory: ScalingMemory


def _within(since: datetime | None, now: datetime, window: timedelta) -> bool:
    return since is not None and now - since < window


def decide_replicas(
    policy: ScalingPolicy, *, lag: int, current: int, now: datetime, memory: ScalingMemory
) -> Decision:
    """How many replicas a pool with `current` replicas and this consumer lag should have."""
    lag = max(lag, 0)
    current = max(current, 0)
    idle_since = (memory.idle_since or now) if lag == 0 else None
    seen = replace(memory, idle_since=idle_since)

    def done(replicas: int, reason: ScaleReason) -> Decision:
        remembered = seen
        if replicas > current:
            remembered = replace(remembered, last_scale_up=now)
        elif replicas < current:
            remembered = replace(remembered, last_scale_down=now)
        return Decision(replicas, reason, remembered)

    if current == 0:
        return _from_zero(policy, lag, done)
    if current > policy.max_replicas:
        return done(policy.max_replicas, ScaleReason.ABOVE_MAX)
    if current < policy.min_replicas:
        return done(policy.min_replicas, ScaleReason.BELOW_MIN)
    if (
        policy.scale_to_zero
        and idle_since is not None
        and now - idle_since >= policy.idle_before_zero
        and not _within(seen.last_scaled(), now, policy.scale_down_cooldown)
    ):
        return done(0, ScaleReason.TO_ZERO)
    return _resize(policy, lag=lag, current=current, now=now, memory=seen, done=done)


def _from_zero(policy: ScalingPolicy, lag: int, done: _Done) -> Decision:
    """Nobody consumes: start at once when work waits, else stay (or go to the minimum)."""
    if lag == 0:
        if policy.scale_to_zero:
            return done(0, ScaleReason.IDLE)
        return done(policy.min_replicas, ScaleReason.BELOW_MIN)
    start = max(policy.min_replicas, min(policy.wanted(lag), policy.max_up_step))
    return done(start, ScaleReason.ACTIVATE)


def _resize(
    policy: ScalingPolicy,
    *,
    lag: int,
    current: int,
    now: datetime,
    memory: ScalingMemory,
    done: _Done,
) -> Decision:
    """Between the bounds: hysteresis, cooldowns and steps."""
    wanted = policy.wanted(lag)
    ratio = lag / (current * policy.target_lag)
    if wanted == current or abs(ratio - 1) <= policy.tolerance:
        saturated = current == policy.max_replicas and ratio > 1 + policy.tolerance
        return done(current, ScaleReason.SATURATED if saturated else ScaleReason.STEADY)
    if wanted > current:
        if _within(memory.last_scale_up, now, policy.scale_up_cooldown):
            return done(current, ScaleReason.UP_COOLDOWN)
        return done(min(wanted, current + policy.max_up_step), ScaleReason.SCALE_UP)
    if _within(memory.last_scaled(), now, policy.scale_down_cooldown):
        return done(current, ScaleReason.DOWN_COOLDOWN)
    return done(max(wanted, current - policy.max_down_step), ScaleReason.SCALE_DOWN)


if TYPE_CHECKING:
    from collections.abc import Callable

    _Done = Callable[[int, ScaleReason], Decision]
