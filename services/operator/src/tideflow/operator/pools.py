"""One look at a WorkerPool: read the lag, decide the replicas, set them, report.

The decision is `scaling.decide_replicas`; this module only gathers its inputs (Kafka lag,
the Deployment's replicas, the memory kept in the WorkerPool's status), applies its output
to the Deployment and returns the status to write. Nothing is changed when the lag cannot
be read: a scaler that guesses would stop the workers of a busy queue during an outage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tideflow.operator.conditions import parse_time, rfc3339, with_condition
from tideflow.operator.kube import DeploymentNotFoundError, KubernetesUnavailableError
from tideflow.operator.lag import LagUnavailableError
from tideflow.operator.resources import ConditionStatus, WorkerPoolSpec
from tideflow.operator.scaling import Decision, ScalingMemory, ScalingPolicy, decide_replicas

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from tideflow.operator.kube import Replicas
    from tideflow.operator.lag import LagReader

SCALING = "Scaling"


@dataclass(frozen=True, slots=True)
class PoolNames:
    """How task topics and executor groups are named (the bus's and executor's rules)."""

    topic_prefix: str = "tideflow"

    def topic(self, spec: WorkerPoolSpec) -> str:
        return spec.topic or f"{self.topic_prefix}.tasks.{spec.queue}"

    def group(self, spec: WorkerPoolSpec) -> str:
        return spec.consumer_group or f"tideflow-executor.{spec.queue}"


@dataclass(frozen=True, slots=True)
class PoolLook:
    """The outcome of one look: the status to write and, when it changed, the decision."""

    status: dict[str, Any]
    decision: Decision | None
    applied: bool
    previous: int | None = None
    """The Deployment's replicas before this look (None when they could not be read)."""


def memory_of(status: Mapping[str, Any]) -> ScalingMemory:
    """The scaler's memory as the WorkerPool's status keeps it."""
    return ScalingMemory(
        last_scale_up=parse_time(status.get("lastScaleUpTime")),
        last_scale_down=parse_time(status.get("lastScaleDownTime")),
        idle_since=parse_time(status.get("idleSince")),
    )


def _condition(
    status: Mapping[str, Any],
    generation: int | None,
    now: datetime,
    reason: str,
    message: str,
    *,
    ok: bool = False,
) -> list[dict[str, Any]]:
    return with_condition(
        status.get("conditions"),
        type_=SCALING,
        status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
        reason=reason,
        message=message,
        now=now,
        generation=generation,
    )


async def look(
    *,
    namespace: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    generation: int | None,
    now: datetime,
    lag: LagReader,
    replicas: Replicas,
    names: PoolNames,
) -> PoolLook:
    """Observe, decide and (unless paused) apply; never raises for expected failures."""
    base: dict[str, Any] = {"observedGeneration": generation, "lastObservedTime": rfc3339(now)}
    try:
        pool = WorkerPoolSpec.model_validate(dict(spec))
    except ValidationError as e:
        message = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        conditions = _condition(status, generation, now, "InvalidSpec", message)
        return PoolLook({**base, "conditions": conditions}, None, applied=False)
    try:
        current = await replicas.get(namespace, pool.deployment)
        waiting = await lag.lag(names.topic(pool), names.group(pool))
    except DeploymentNotFoundError as e:
        conditions = _condition(status, generation, now, "DeploymentNotFound", str(e))
        return PoolLook({**base, "conditions": conditions}, None, applied=False)
    except (LagUnavailableError, KubernetesUnavailableError) as e:
        reason = "LagUnavailable" if isinstance(e, LagUnavailableError) else "KubernetesUnavailable"
        conditions = _condition(status, generation, now, reason, str(e))
        return PoolLook({**base, "conditions": conditions}, None, applied=False)
    decision = decide_replicas(
        ScalingPolicy.of(pool), lag=waiting, current=current, now=now, memory=memory_of(status)
    )
    applied = False
    message = f"lag {waiting}, {current} -> {decision.replicas} replicas ({decision.reason})"
    if pool.paused:
        message = f"paused; would set {decision.replicas} (lag {waiting}, {current} now)"
    elif decision.replicas != current:
        try:
            await replicas.set(namespace, pool.deployment, decision.replicas)
        except (DeploymentNotFoundError, KubernetesUnavailableError) as e:
            conditions = _condition(status, generation, now, "ScaleFailed", str(e))
            return PoolLook(
                {**base, "lag": waiting, "replicas": current, "conditions": conditions},
                decision,
                applied=False,
                previous=current,
            )
        applied = True
    memory = decision.memory
    if decision.replicas != current and not applied:  # paused: nothing was scaled
        before = memory_of(status)
        memory = replace(
            memory, last_scale_up=before.last_scale_up, last_scale_down=before.last_scale_down
        )
    result_reason = "Paused" if pool.paused else decision.reason.value
    result = {
        **base,
        "lag": waiting,
        "replicas": decision.replicas if applied else current,
        "desiredReplicas": decision.replicas,
        "reason": result_reason,
        "lastScaleUpTime": _time(memory.last_scale_up),
        "lastScaleDownTime": _time(memory.last_scale_down),
        "idleSince": _time(memory.idle_since),
        "conditions": _condition(status, generation, now, result_reason, message, ok=True),
    }
    return PoolLook(result, decision, applied=applied, previous=current)


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None
