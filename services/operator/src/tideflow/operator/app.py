"""Wiring: the gateway client, Kafka lag, Kubernetes access, kopf, the health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import kopf

from tideflow.operator.gateway import GatewayClient
from tideflow.operator.handlers import Wiring, configure, register
from tideflow.operator.kube import DeploymentScale
from tideflow.operator.lag import KafkaLag
from tideflow.operator.peering import configure_peering, peering_of
from tideflow.operator.pools import PoolNames
from tideflow.runtime import HealthServer

if TYPE_CHECKING:
    from tideflow.operator.kube import Replicas
    from tideflow.operator.lag import LagReader
    from tideflow.operator.settings import OperatorSettings

log = logging.getLogger("tideflow.operator")


def build_registry(wiring: Wiring, *, server: str | None = None) -> kopf.OperatorRegistry:
    """The operator's handlers; `server` pins the API address (tests), else the usual login
    (in a pod: its service account; elsewhere: the kubeconfig) through kubernetes_asyncio."""
    registry = kopf.OperatorRegistry()
    register(registry, wiring)

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if server is not None:
            return kopf.ConnectionInfo(server=server, insecure=True)
        return await kopf.login_via_async_client(**kwargs)

    return registry


async def run_kopf(
    *,
    settings: OperatorSettings,
    wiring: Wiring,
    stop: asyncio.Event,
    server: str | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """kopf with the operator's handlers until `stop` is set.

    With `settings.peering`, this replica joins the election (`peering.py`) and handles
    resources only while it is the live replica with the highest priority.
    """
    kopf_settings = kopf.OperatorSettings()
    configure(kopf_settings)
    peering = peering_of(settings)
    configure_peering(kopf_settings, peering)
    if not peering.standalone:
        log.info("peering through %r with priority %s", peering.name, peering.priority)
    await kopf.operator(
        registry=build_registry(wiring, server=server),
        settings=kopf_settings,
        standalone=peering.standalone,
        peering_name=peering.name,
        priority=peering.priority,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        stop_flag=stop,
        ready_flag=ready,
    )


async def run_operator(
    *,
    settings: OperatorSettings,
    stop: asyncio.Event,
    lag: LagReader | None = None,
    replicas: Replicas | None = None,
    server: str | None = None,
) -> None:
    """The operator as `tide serve operator` runs it, until `stop` is set."""
    gateway = GatewayClient(
        base_url=settings.gateway_url,
        token=settings.token.get_secret_value() if settings.token else None,
        timeout=settings.gateway_timeout,
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(gateway.close)
        if replicas is None:
            scale = await DeploymentScale.connect(server)
            stack.push_async_callback(scale.close)
            replicas = scale
        if lag is None:
            kafka = KafkaLag(settings.kafka.bootstrap)
            await kafka.start()
            stack.push_async_callback(kafka.close)
            lag = kafka
        wiring = Wiring(
            gateway=gateway,
            lag=lag,
            replicas=replicas,
            names=PoolNames(topic_prefix=settings.kafka.topic_prefix),
            sync_interval=settings.sync_interval,
            status_interval=settings.status_interval,
            retry_delay=settings.retry_delay,
        )
        ready = asyncio.Event()

        async def readiness() -> dict[str, bool]:
            return {"kopf": ready.is_set()}

        health = HealthServer(
            service="operator", host=settings.host, port=settings.port, readiness=readiness
        )
        await health.start()
        stack.push_async_callback(health.stop)
        log.info("operator running (namespaces: %s)", settings.namespaces or "all")
        await run_kopf(settings=settings, wiring=wiring, stop=stop, server=server, ready=ready)
        log.info("operator stopped")
