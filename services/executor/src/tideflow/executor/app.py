"""Executor wiring: one consumer group per task queue, the node handlers, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from tideflow.executor.handlers import TaskRunner, install_step_log_collector
from tideflow.executor.redaction import Redactor, install_log_redaction, remove_log_redaction
from tideflow.executor.secrets import EnvironmentSecrets, SecretSource
from tideflow.nodes import (
    AgentTurnHandler,
    DatabaseHandler,
    EgressPolicy,
    FunctionHandler,
    GuardedTransport,
    HandlerRegistry,
    HttpHandler,
    LlmHandler,
    NodeHandler,
    NotifyHandler,
    OcrHandler,
    PluginHandler,
)
from tideflow.plugins import NodeTypeRegistry, load_registry
from tideflow.runtime import HealthServer
from tideflow.sdk import DEFAULT_REGISTRY, TaskRegistry
from tideflow.wire import engine_limits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tideflow.bus import Bus
    from tideflow.executor.settings import ExecutorSettings

log = logging.getLogger(__name__)

# How long a stopping executor lets running attempts finish; the rest are redelivered.
DRAIN = timedelta(seconds=25)


def group_for(queue: str) -> str:
    """Workers of one queue share its tasks; each queue is consumed independently."""
    return f"tideflow-executor.{queue}"


def builtin_handlers(
    settings: ExecutorSettings, policy: EgressPolicy, registry: TaskRegistry, secrets: SecretSource
) -> tuple[list[NodeHandler], list[Callable[[], Awaitable[None]]]]:
    """The built-in worker node types, and what closes their connection pools."""
    egress = settings.egress
    http = HttpHandler(
        policy=policy,
        response_bytes=int(egress.response_bytes),
        max_redirects=egress.max_redirects,
        json_depth=settings.limits.json_depth,
    )
    cap = int(egress.response_bytes)
    database = DatabaseHandler(policy=policy, secrets=secrets)
    notify = NotifyHandler(policy=policy, secrets=secrets, response_bytes=cap)
    llm = LlmHandler(policy=policy, secrets=secrets, response_bytes=cap)
    agent = AgentTurnHandler(policy=policy, secrets=secrets, response_bytes=cap)
    handlers: list[NodeHandler] = [
        FunctionHandler(registry=registry), http, llm, agent,
        OcrHandler(
            policy=policy, secrets=secrets, endpoint_hosts=egress.aws_endpoint_hosts,
            s3_buckets=settings.ocr.s3_buckets,
        ),
        database, notify,
    ]  # fmt: skip
    closers: list[Callable[[], Awaitable[None]]] = [
        http.aclose,
        llm.aclose,
        agent.aclose,
        database.aclose,
        notify.aclose,
    ]
    return handlers, closers


async def run_executor(
    *,
    settings: ExecutorSettings,
    bus: Bus,
    stop: asyncio.Event,
    registry: TaskRegistry | None = None,
    serve_health: bool = True,
    secrets: SecretSource | None = None,
    node_types: NodeTypeRegistry | None = None,
) -> None:
    """Run tasks of `settings.queues` until `stop`; attempts in flight get DRAIN to finish.

    Each queue is consumed pipelined with up to `concurrency` attempts in flight, so its
    fetch pauses while every slot is busy; with several queues the shared semaphore is
    the bound on running attempts and fetched ones may wait for a slot.
    """
    registry = registry or DEFAULT_REGISTRY
    TaskRegistry.load_modules(settings.modules)
    install_step_log_collector()
    redactor = Redactor()
    install_log_redaction(redactor)
    egress = settings.egress
    policy = EgressPolicy.from_settings(egress, listeners=settings.listeners())
    secrets = secrets or EnvironmentSecrets()
    handlers, closers = builtin_handlers(settings, policy, registry, secrets)
    node_types = node_types or load_registry()
    # one guarded pool shared by every plugin type (connectors included); every answer
    # read through it is capped at TIDEFLOW_EGRESS_RESPONSE_BYTES
    plugin_http = httpx.AsyncClient(
        transport=GuardedTransport(policy, response_bytes=int(egress.response_bytes)),
        follow_redirects=True,
        max_redirects=egress.max_redirects, trust_env=False,
    )  # fmt: skip
    handlers += [
        # values a plugin derives from secrets (`ctx.sensitive`) are masked like secrets
        PluginHandler(
            spec, http=plugin_http, secrets=secrets.secrets, redact=redactor.learn_derived
        )
        for spec in node_types.worker_specs()
    ]
    runner = TaskRunner(
        bus=bus,
        handlers=HandlerRegistry(handlers),
        secrets=secrets,
        concurrency=settings.concurrency,
        limits=engine_limits(settings.limits),
        redactor=redactor,
    )
    topics = [bus.topics.tasks(queue) for queue in settings.queues]
    cancel_topics = [bus.topics.task_cancels(queue) for queue in settings.queues]
    await bus.ensure_topics([*topics, *cancel_topics], partitions=settings.kafka.partitions)
    consumers = [
        bus.consumer(
            [bus.topics.tasks(queue)], group=group_for(queue), max_batch=settings.concurrency
        )
        for queue in settings.queues
    ]
    # A group of this process's own: every worker sees every cancellation of its queues.
    cancels = bus.consumer(cancel_topics, group=f"tideflow-executor-cancels.{uuid.uuid4()}")
    for consumer in [*consumers, cancels]:
        await consumer.start()

    async def readiness() -> dict[str, bool]:
        return {"consumers": not stop.is_set()}

    health = None
    if serve_health:
        health = HealthServer(
            service="executor", host=settings.host, port=settings.port, readiness=readiness
        )
        await health.start()
    tasks = [
        asyncio.create_task(
            consumer.run_pipelined(
                runner.handle,
                stop=stop,
                max_in_flight=settings.concurrency,
                drain_timeout=DRAIN,
            ),
            name=f"executor-{consumer.group}",
        )
        for consumer in consumers
    ]
    tasks.append(asyncio.create_task(cancels.run(runner.cancellations, stop=stop)))
    log.info("executor running queues %s with tasks %s", settings.queues, registry.names())
    try:
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            stopper.cancel()
            for task in done:
                task.result()
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=DRAIN.total_seconds() + 5)
        for consumer in [*consumers, cancels]:
            await consumer.close()
        await plugin_http.aclose()
        for close in closers:
            await close()
        remove_log_redaction(redactor)
        if health is not None:
            await health.stop()
        log.info("executor stopped")
