"""The replica decision, exhaustively: a table of situations and hypothesis properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tideflow.operator.resources import WorkerPoolSpec
from tideflow.operator.scaling import (
    Decision,
    ScaleReason,
    ScalingMemory,
    ScalingPolicy,
    decide_replicas,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = timedelta(seconds=1)
POLICY = ScalingPolicy(
    min_replicas=1,
    max_replicas=10,
    target_lag=100,
    tolerance=0.1,
    scale_up_cooldown=30 * S,
    scale_down_cooldown=300 * S,
    max_up_step=4,
    max_down_step=2,
    scale_to_zero=True,
    idle_before_zero=600 * S,
)
LONG_AGO = ScalingMemory(last_scale_up=T0 - 3600 * S, last_scale_down=T0 - 3600 * S)
FRESH = ScalingMemory()


def decide(
    lag: int, current: int, memory: ScalingMemory = FRESH, policy: ScalingPolicy = POLICY
) -> Decision:
    return decide_replicas(policy, lag=lag, current=current, now=T0, memory=memory)


TABLE = [
    # (lag, current, memory, policy changes, replicas, reason)
    (0, 0, FRESH, {}, 0, ScaleReason.IDLE),
    (0, 0, FRESH, {"scale_to_zero": False}, 1, ScaleReason.BELOW_MIN),
    (1, 0, FRESH, {}, 1, ScaleReason.ACTIVATE),
    (350, 0, FRESH, {}, 4, ScaleReason.ACTIVATE),  # ceil(3.5) = 4, one step
    (5000, 0, FRESH, {}, 4, ScaleReason.ACTIVATE),  # one step only
    (5000, 0, FRESH, {"min_replicas": 6}, 6, ScaleReason.ACTIVATE),  # the minimum wins
    (50, 0, LONG_AGO, {"min_replicas": 3}, 3, ScaleReason.ACTIVATE),
    (1, 0, ScalingMemory(last_scale_down=T0 - S), {}, 1, ScaleReason.ACTIVATE),  # no cooldown
    (100, 1, FRESH, {}, 1, ScaleReason.STEADY),
    (109, 1, FRESH, {}, 1, ScaleReason.STEADY),  # within the tolerance
    (111, 1, FRESH, {}, 2, ScaleReason.SCALE_UP),
    (800, 2, FRESH, {}, 6, ScaleReason.SCALE_UP),  # wants 8, steps 4
    (800, 2, ScalingMemory(last_scale_up=T0 - 10 * S), {}, 2, ScaleReason.UP_COOLDOWN),
    (800, 2, ScalingMemory(last_scale_up=T0 - 30 * S), {}, 6, ScaleReason.SCALE_UP),
    # a recent scale-down does not hold back a scale-up
    (800, 2, ScalingMemory(last_scale_down=T0 - S), {}, 6, ScaleReason.SCALE_UP),
    (99_999, 10, LONG_AGO, {}, 10, ScaleReason.SATURATED),
    (99_999, 8, LONG_AGO, {}, 10, ScaleReason.SCALE_UP),
    (150, 2, LONG_AGO, {}, 2, ScaleReason.STEADY),  # wants ceil(1.5) = 2
    (95, 2, LONG_AGO, {}, 1, ScaleReason.SCALE_DOWN),
    (100, 8, LONG_AGO, {}, 6, ScaleReason.SCALE_DOWN),  # wants 1, steps 2
    (100, 8, ScalingMemory(last_scale_down=T0 - 100 * S), {}, 8, ScaleReason.DOWN_COOLDOWN),
    (100, 8, ScalingMemory(last_scale_up=T0 - 100 * S), {}, 8, ScaleReason.DOWN_COOLDOWN),
    (100, 8, ScalingMemory(last_scale_up=T0 - 300 * S), {}, 6, ScaleReason.SCALE_DOWN),
    (905, 10, LONG_AGO, {}, 10, ScaleReason.STEADY),  # 0.905: within the tolerance
    (880, 10, LONG_AGO, {}, 9, ScaleReason.SCALE_DOWN),
    (0, 3, LONG_AGO, {"scale_to_zero": False}, 1, ScaleReason.SCALE_DOWN),
    (0, 1, LONG_AGO, {"scale_to_zero": False}, 1, ScaleReason.STEADY),
    (0, 1, LONG_AGO, {}, 1, ScaleReason.STEADY),  # idle from now on, not for long enough
    (0, 1, replace(LONG_AGO, idle_since=T0 - 599 * S), {}, 1, ScaleReason.STEADY),
    (0, 1, replace(LONG_AGO, idle_since=T0 - 600 * S), {}, 0, ScaleReason.TO_ZERO),
    (0, 4, replace(LONG_AGO, idle_since=T0 - 900 * S), {}, 0, ScaleReason.TO_ZERO),
    (
        0,
        1,
        ScalingMemory(idle_since=T0 - 900 * S, last_scale_down=T0 - 10 * S),
        {},
        1,
        ScaleReason.STEADY,
    ),  # idle long enough, but scaled down 10 s ago
    (0, 1, replace(LONG_AGO, idle_since=T0 - 900 * S), {"scale_to_zero": False}, 1,
     ScaleReason.STEADY),
    (50, 14, FRESH, {}, 10, ScaleReason.ABOVE_MAX),  # bounds ignore steps and cooldowns
    (50, 14, ScalingMemory(last_scale_up=T0), {}, 10, ScaleReason.ABOVE_MAX),
    (5000, 1, ScalingMemory(last_scale_up=T0), {"min_replicas": 5}, 5, ScaleReason.BELOW_MIN),
    (-5, 2, LONG_AGO, {}, 1, ScaleReason.SCALE_DOWN),  # a negative lag reads as none
]  # fmt: skip


@pytest.mark.parametrize(
    ("lag", "current", "memory", "changes", "replicas", "reason"),
    TABLE,
    ids=[f"lag{row[0]}-at{row[1]}-{row[5]}-{i}" for i, row in enumerate(TABLE)],
)
def test_table(  # noqa: PLR0917 - one parameter per column
    lag: int,
    current: int,
    memory: ScalingMemory,
    changes: dict[str, object],
    replicas: int,
    reason: ScaleReason,
) -> None:
    decision = decide(lag, current, memory, replace(POLICY, **changes))  # type: ignore[arg-type]
    assert (decision.replicas, decision.reason) == (replicas, reason)


def test_memory_records_direction_and_idleness() -> None:
    up = decide(800, 2, LONG_AGO)
    assert up.memory.last_scale_up == T0
    assert up.memory.last_scale_down == LONG_AGO.last_scale_down
    down = decide(95, 2, LONG_AGO)
    assert down.memory.last_scale_down == T0
    assert down.memory.last_scale_up == LONG_AGO.last_scale_up
    idle = decide(0, 1, LONG_AGO)
    assert idle.memory.idle_since == T0
    still = decide(0, 1, idle.memory)
    assert still.memory.idle_since == T0  # kept, not restarted
    busy = decide(5, 1, still.memory)
    assert busy.memory.idle_since is None


def test_the_policy_of_a_spec_and_its_checks() -> None:
    spec = WorkerPoolSpec.model_validate({
        "queue": "q", "deployment": "d", "minReplicas": 2, "maxReplicas": 7,
        "targetLagPerReplica": 50, "scaleUpCooldown": "1m", "scaleDownCooldown": 600,
        "maxScaleUpStep": 3, "maxScaleDownStep": 2, "scaleToZero": True, "idleBeforeZero": "1h",
    })  # fmt: skip
    policy = ScalingPolicy.of(spec)
    assert policy == ScalingPolicy(
        min_replicas=2, max_replicas=7, target_lag=50, tolerance=0.1,
        scale_up_cooldown=60 * S, scale_down_cooldown=600 * S, max_up_step=3,
        max_down_step=2, scale_to_zero=True, idle_before_zero=3600 * S,
    )  # fmt: skip
    for bad in ({"min_replicas": 0}, {"min_replicas": 11}, {"target_lag": 0}, {"tolerance": 2}):
        with pytest.raises(ValueError, match=r"must|need"):
            replace(POLICY, **bad)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

durations = st.integers(min_value=0, max_value=900).map(lambda s: s * S)
moments = st.one_of(st.none(), st.integers(min_value=0, max_value=1200).map(lambda s: T0 - s * S))


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(min_value=1, max_value=20))
    return ScalingPolicy(
        min_replicas=low,
        max_replicas=draw(st.integers(min_value=low, max_value=40)),
        target_lag=draw(st.integers(min_value=1, max_value=500)),
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5])),
        scale_up_cooldown=draw(durations),
        scale_down_cooldown=draw(durations),
        max_up_step=draw(st.integers(min_value=1, max_value=8)),
        max_down_step=draw(st.integers(min_value=1, max_value=8)),
        scale_to_zero=draw(st.booleans()),
        idle_before_zero=draw(durations),
    )


memories = st.builds(ScalingMemory, last_scale_up=moments, last_scale_down=moments,
                     idle_since=moments)  # fmt: skip
lags = st.one_of(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=30_000))
currents = st.integers(min_value=0, max_value=50)


@settings(max_examples=400, deadline=None)
@given(policy=policies(), lag=lags, current=currents, memory=memories)
def test_decisions_respect_bounds_zero_steps_and_cooldowns(
    policy: ScalingPolicy, lag: int, current: int, memory: ScalingMemory
) -> None:
    decision = decide_replicas(policy, lag=lag, current=current, now=T0, memory=memory)
    replicas, reason = decision.replicas, decision.reason
    assert 0 <= replicas <= policy.max_replicas
    if replicas == 0:  # only an idle pool that may stop
        assert policy.scale_to_zero
        assert lag == 0
    else:
        assert replicas >= policy.min_replicas
    if lag > 0:
        assert replicas >= 1, "work waits and nobody would consume it"
    in_bounds = policy.min_replicas <= current <= policy.max_replicas
    if not in_bounds or current == 0:
        return
    # between the bounds: steps, cooldowns and hysteresis hold
    if replicas > current:
        assert replicas - current <= policy.max_up_step
        assert lag > current * policy.target_lag * (1 + policy.tolerance)
        assert not (memory.last_scale_up and T0 - memory.last_scale_up < policy.scale_up_cooldown)
    if 0 < replicas < current:
        assert current - replicas <= policy.max_down_step
        assert lag < current * policy.target_lag * (1 - policy.tolerance)
    if replicas < current:
        last = memory.last_scaled()
        assert not (last and T0 - last < policy.scale_down_cooldown)
    if replicas == 0:
        assert reason is ScaleReason.TO_ZERO
        assert memory.idle_since is not None
        assert T0 - memory.idle_since >= policy.idle_before_zero


@settings(max_examples=300, deadline=None)
@given(policy=policies(), lags=st.tuples(lags, lags), current=currents, memory=memories)
def test_more_lag_never_means_fewer_replicas(
    policy: ScalingPolicy, lags: tuple[int, int], current: int, memory: ScalingMemory
) -> None:
    low, high = sorted(lags)
    fewer = decide_replicas(policy, lag=low, current=current, now=T0, memory=memory)
    more = decide_replicas(policy, lag=high, current=current, now=T0, memory=memory)
    assert more.replicas >= fewer.replicas


@settings(max_examples=300, deadline=None)
@given(policy=policies(), lag=lags, current=currents, memory=memories)
def test_memory_follows_the_decision(
    policy: ScalingPolicy, lag: int, current: int, memory: ScalingMemory
) -> None:
    decision = decide_replicas(policy, lag=lag, current=current, now=T0, memory=memory)
    after = decision.memory
    assert (after.last_scale_up == T0) == (decision.replicas > current) or (
        memory.last_scale_up == T0
    )
    if decision.replicas < current:
        assert after.last_scale_down == T0
    if decision.replicas == current:
        assert (after.last_scale_up, after.last_scale_down) == (
            memory.last_scale_up,
            memory.last_scale_down,
        )
    assert (after.idle_since is None) == (lag > 0)


@settings(max_examples=200, deadline=None)
@given(policy=policies(), lag=lags, current=currents)
def test_a_steady_lag_converges_and_never_flaps(
    policy: ScalingPolicy, lag: int, current: int
) -> None:
    """Applied every minute under a constant lag, the pool settles and then stays."""
    memory, now, history = ScalingMemory(), T0, [current]
    # at most ~55 steps, each at most a 900 s cooldown (16 looks) away, then a tail of 50
    unchanged = 0
    for _ in range(55 * 16 + 50):
        decision = decide_replicas(policy, lag=lag, current=history[-1], now=now, memory=memory)
        memory = decision.memory
        unchanged = unchanged + 1 if decision.replicas == history[-1] else 0
        history.append(decision.replicas)
        now += 60 * S
        if unchanged == 50:  # longer than any cooldown: settled
            break
    assert unchanged >= 50, f"never settled: {history[-60:]}"
    settled = history[-1]
    if lag == 0 and policy.scale_to_zero:
        assert settled == 0
    elif settled:
        wanted = policy.wanted(lag)
        ratio = lag / (settled * policy.target_lag)
        assert settled == wanted or abs(ratio - 1) <= policy.tolerance
    # once it moved in one direction it never turns back under the same lag
    moves = [b - a for a, b in pairwise(history) if b != a]
    ups = [m > 0 for m in moves]
    assert ups == sorted(ups, reverse=True) or ups == sorted(ups)


@given(policy=policies(), lag=lags, current=currents, memory=memories)
def test_the_decision_is_a_pure_function(
    policy: ScalingPolicy, lag: int, current: int, memory: ScalingMemory
) -> None:
    first = decide_replicas(policy, lag=lag, current=current, now=T0, memory=memory)
    again = decide_replicas(policy, lag=lag, current=current, now=T0, memory=memory)
    assert first == again
