"""The kopf handlers: thin adapters from kopf's callbacks to `workflows` and `pools`.

Everything is registered on a registry of its own (never kopf's global one), with the
gateway, Kafka and Kubernetes clients passed in, so tests run the real handlers against
kmock and a real gateway app.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import kopf

from tideflow.operator import metrics, pools, workflows
from tideflow.operator.resources import GROUP, VERSION

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from tideflow.operator.gateway import GatewayClient
    from tideflow.operator.kube import Replicas
    from tideflow.operator.lag import LagReader

log = logging.getLogger("tideflow.operator")
MAX_RETRY_DELAY = timedelta(minutes=5)
T = TypeVar("T")
# How long kopf waits for a stopped timer to exit (ours abandon their request at once), and
# how often it looks again at one that has not: kopf's default is a minute, during which a
# deleted resource keeps its finalizer unless some other event touches it.
TIMER_EXIT_WAIT = 0.5
TIMER_EXIT_POLLING = 5.0


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the handlers talk to, and their pace."""

    gateway: GatewayClient
    lag: LagReader
    replicas: Replicas
    names: pools.PoolNames
    sync_interval: timedelta
    status_interval: timedelta
    retry_delay: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def backoff(self, retry: int) -> float:
        """Seconds before the next attempt: doubling from retry_delay, at most 5 minutes."""
        delay: timedelta = self.retry_delay * (2 ** min(retry, 16))
        return float(min(delay, MAX_RETRY_DELAY).total_seconds())


async def unless_stopped(work: Coroutine[Any, Any, T], stopped: kopf.DaemonStopped) -> T | None:
    """`work`, or None when kopf stops the timer first (the resource is being deleted, the
    operator exits or pauses): the request is abandoned then, not waited for, because a
    timer that is still running keeps the deleted resource's finalizer."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(_stopping(stopped))
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        task.cancel()  # nothing when it is done
        await asyncio.wait({task, stop})
    return None if task.cancelled() else task.result()


async def _stopping(stopped: kopf.DaemonStopped) -> None:
    await stopped.wait()


def _resource(
    namespace: str | None, name: str | None, meta: Any, spec: Any, status: Any
) -> workflows.WorkflowResource:
    return workflows.WorkflowResource(
        namespace=namespace or "default",
        name=str(name),
        generation=meta.get("generation"),
        spec=dict(spec),
        annotations=dict(meta.get("annotations") or {}),
        status=dict(status or {}),
    )


def register(registry: kopf.OperatorRegistry, wiring: Wiring) -> None:
    """Register the Workflow and WorkerPool handlers on `registry`."""

    @kopf.on.resume(GROUP, VERSION, "workflows", registry=registry)
    @kopf.on.create(GROUP, VERSION, "workflows", registry=registry)
    @kopf.on.update(GROUP, VERSION, "workflows", registry=registry)
    async def workflow_changed(
        *,
        namespace: str | None,
        name: str | None,
        meta: kopf.Meta,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        retry: int,
        **_: Any,
    ) -> None:
        """Store the spec as the draft and publish it; report the outcome in the status."""
        resource = _resource(namespace, name, meta, spec, status)
        try:
            outcome = await workflows.reconcile(wiring.gateway, resource, wiring.clock())
        except workflows.RetryLater as e:
            patch.status.update(e.status)
            metrics.WORKFLOW_RECONCILES.labels(_ready_reason(e.status)).inc()
            raise kopf.TemporaryError(str(e), delay=wiring.backoff(retry)) from e
        patch.status.update(outcome)
        metrics.WORKFLOW_RECONCILES.labels(_ready_reason(outcome)).inc()
        log.info("workflow %s/%s: %s", namespace, name, outcome["conditions"])

    @kopf.on.delete(GROUP, VERSION, "workflows", registry=registry)
    async def workflow_deleted(
        *,
        namespace: str | None,
        name: str | None,
        meta: kopf.Meta,
        spec: kopf.Spec,
        status: kopf.Status,
        retry: int,
        **_: Any,
    ) -> None:
        """Archive the workflow: its versions and runs stay readable, it starts no runs."""
        resource = _resource(namespace, name, meta, spec, status)
        try:
            outcome = await workflows.archive(wiring.gateway, resource)
        except workflows.RetryLater as e:
            raise kopf.TemporaryError(str(e), delay=wiring.backoff(retry)) from e
        log.info("workflow %s/%s deleted: %s", namespace, name, outcome)

    @kopf.timer(
        GROUP,
        VERSION,
        "workflows",
        interval=wiring.status_interval.total_seconds(),
        initial_delay=wiring.status_interval.total_seconds(),
        registry=registry,
    )
    async def workflow_last_run(
        *,
        namespace: str | None,
        name: str | None,
        meta: kopf.Meta,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        **kwargs: Any,  # `stopped`: kopf's TimerFn protocol does not name it
    ) -> None:
        """Keep `status.lastRun` fresh for `kubectl get workflows`."""
        if not status.get("publishedVersion"):
            return
        resource = _resource(namespace, name, meta, spec, status)
        run = await unless_stopped(workflows.last_run(wiring.gateway, resource), kwargs["stopped"])
        if run is not None and run != status.get("lastRun"):
            patch.status["lastRun"] = run

    @kopf.timer(
        GROUP,
        VERSION,
        "workerpools",
        interval=wiring.sync_interval.total_seconds(),
        registry=registry,
    )
    async def pool_look(
        *,
        namespace: str | None,
        meta: kopf.Meta,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        name: str | None,
        **kwargs: Any,  # `stopped`: kopf's TimerFn protocol does not name it
    ) -> None:
        """Read the queue's lag, decide the replicas, set them, report."""
        look = pools.look(
            namespace=namespace or "default",
            spec=spec,
            status=status,
            generation=meta.get("generation"),
            now=wiring.clock(),
            lag=wiring.lag,
            replicas=wiring.replicas,
            names=wiring.names,
        )
        result = await unless_stopped(look, kwargs["stopped"])
        if result is not None:  # None: stopped mid-look, nothing to report
            _report(patch, namespace or "default", str(name), spec, result)


def _report(
    patch: kopf.Patch, namespace: str, name: str, spec: Any, result: pools.PoolLook
) -> None:
    """A look's outcome: the status, the metrics, and a log line when it scaled."""
    patch.status.update(result.status)
    _observe(namespace, name, spec, result)
    if result.applied and result.decision is not None:
        log.info(
            "workerpool %s/%s: %s replicas (%s, lag %s)",
            namespace, name, result.decision.replicas, result.decision.reason,
            result.status.get("lag"),
        )  # fmt: skip


def _ready_reason(status: dict[str, Any]) -> str:
    for condition in status.get("conditions", []):
        if condition.get("type") == workflows.READY:
            return str(condition.get("reason"))
    return "Unknown"


def _observe(namespace: str, name: str, spec: Any, result: pools.PoolLook) -> None:
    """The look's numbers as metrics (the same as the status shows)."""
    labels = (namespace, name, str(spec.get("queue", "")))
    status = result.status
    if result.decision is None:
        reason = next((c.get("reason") for c in status.get("conditions", [])), "Unknown")
        metrics.POOL_LOOK_FAILURES.labels(namespace, name, str(reason)).inc()
        return
    metrics.POOL_LAG.labels(*labels).set(status.get("lag") or 0)
    metrics.POOL_REPLICAS.labels(*labels).set(status.get("replicas") or 0)
    metrics.POOL_DESIRED.labels(*labels).set(status.get("desiredReplicas") or 0)
    if result.applied:
        direction = "up" if result.decision.replicas > (result.previous or 0) else "down"
        metrics.POOL_SCALINGS.labels(*labels, direction).inc()


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings the operator relies on (and its RBAC assumes)."""
    # progress and diff-base in annotations: the CRDs' status schema has no `kopf` field
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="operator.tideflow.io"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="operator.tideflow.io", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "operator.tideflow.io/finalizer"
    # the resources are known: no CRD or Namespace watching (nor the RBAC for it)
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    # a deleted resource is released once its timers have exited: wait for them briefly
    # (they stop at once, see `unless_stopped`) and re-check often, not after a minute
    settings.background.instant_exit_timeout = TIMER_EXIT_WAIT
    settings.background.cancellation_polling = TIMER_EXIT_POLLING
