"""The operator under test: kopf with the real handlers, kmock as the Kubernetes API, and a
real gateway (on real Postgres) as what Workflow resources are stored in.

kmock (by kopf's author) is a stateful Kubernetes API emulator over HTTP: objects created,
patched and deleted through it are kept, listed and streamed to watchers, finalizers hold
a deletion until removed. It does not bump `resourceVersion` or `generation`, so the
helpers below set them the way the API server would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import kmock
import pytest

from tideflow.bus import InMemoryBus
from tideflow.gateway import GatewaySettings, run_gateway
from tideflow.operator.app import run_kopf
from tideflow.operator.gateway import GatewayClient
from tideflow.operator.handlers import Wiring
from tideflow.operator.kube import DeploymentScale
from tideflow.operator.pools import PoolNames
from tideflow.operator.settings import OperatorSettings
from tideflow.store import APP_ROLE, PostgresEventStore
from tideflow.store.testing import Databases, with_database

TOKEN = "operator-test-admin-token"
DEADLINE = 30.0


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = DEADLINE) -> Any:
    """Poll `check` until it returns something truthy (or raise its last AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"still {result!r} after {timeout} s")
        await asyncio.sleep(0.05)


def declare_resources(k8s: kmock.KubernetesEmulator) -> None:
    """What API discovery shows in a real cluster, as far as kopf and the scaler look."""
    resources = {
        "tideflow.io/v1/workflows": ("Workflow", True, {"status"}),
        "tideflow.io/v1/workerpools": ("WorkerPool", True, {"status"}),
        "apps/v1/deployments": ("Deployment", True, {"scale", "status"}),
        "v1/events": ("Event", True, set()),
        "kopf.dev/v1/kopfpeerings": ("KopfPeering", True, set()),
        "kopf.dev/v1/clusterkopfpeerings": ("ClusterKopfPeering", False, set()),
        "v1/namespaces": ("Namespace", False, set()),
        "apiextensions.k8s.io/v1/customresourcedefinitions": (
            "CustomResourceDefinition",
            False,
            set(),
        ),
    }
    for key, (kind, namespaced, subresources) in resources.items():
        k8s.resources[key] = kmock.ResourceInfo(
            kind=kind,
            namespaced=namespaced,
            subresources=subresources,
            verbs={"get", "list", "watch", "create", "patch", "delete"},
        )


@dataclass
class Cluster:
    """The kmock API server, with the calls a test makes as `kubectl` would."""

    k8s: kmock.KubernetesEmulator
    session: aiohttp.ClientSession
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.k8s.url)

    @staticmethod
    def path(plural: str, namespace: str, name: str | None = None) -> str:
        base = "/apis/apps/v1" if plural == "deployments" else "/apis/tideflow.io/v1"
        return f"{base}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    async def apply(self, plural: str, document: dict[str, Any]) -> None:
        """Create the object (with the uid, resourceVersion and generation a server adds)."""
        metadata = document.setdefault("metadata", {})
        metadata.setdefault("namespace", "default")
        metadata.update(uid=str(uuid.uuid4()), resourceVersion="1", generation=1)
        response = await self.session.post(self.path(plural, metadata["namespace"]), json=document)
        assert response.status < 300, await response.text()

    async def server_metadata(self, plural: str, namespace: str, name: str) -> None:
        """Add the uid, resourceVersion and generation an API server gives an object that
        a client (kubectl) created; kmock stores what it is sent."""
        response = await self.session.patch(
            self.path(plural, namespace, name),
            json={"metadata": {"uid": str(uuid.uuid4()), "resourceVersion": "1", "generation": 1}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status < 300, await response.text()

    async def patch_spec(self, plural: str, namespace: str, name: str, spec: Any) -> None:
        """Replace the spec (and bump the generation, as the API server does)."""
        current = await self.get(plural, namespace, name)
        assert current is not None
        generation = int(current["metadata"].get("generation", 1)) + 1
        body = {"metadata": {"generation": generation}, "spec": spec}
        response = await self.session.patch(
            self.path(plural, namespace, name),
            json=body,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status < 300, await response.text()

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        response = await self.session.get(self.path(plural, namespace, name))
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        response = await self.session.delete(self.path(plural, namespace, name))
        assert response.status < 300, await response.text()

    def requests(self) -> list[kmock.Request]:
        return list(self.k8s)


@pytest.fixture
async def cluster(kmock: kmock.KubernetesEmulator) -> AsyncIterator[Cluster]:
    declare_resources(kmock)
    async with aiohttp.ClientSession(base_url=str(kmock.url)) as session:
        yield Cluster(k8s=kmock, session=session)


@dataclass
class Gateway:
    url: str
    client: aiohttp.ClientSession

    async def workflow(self, workflow_id: str) -> dict[str, Any] | None:
        response = await self.client.get(f"/workflows/{workflow_id}")
        if response.status == 404:
            return None
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def versions(self, workflow_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/workflows/{workflow_id}/versions?definitions=true")
        assert response.status == 200, await response.text()
        return list((await response.json())["items"])


@pytest.fixture(scope="module")
async def gateway_store(
    databases: Databases, migrated_template: str
) -> AsyncIterator[PostgresEventStore]:
    name = await databases.create(template=migrated_template)
    store = await PostgresEventStore.connect(
        with_database(databases.url, name), max_size=4, role=APP_ROLE
    )
    yield store
    await store.close()
    await databases.drop(name)


@contextlib.asynccontextmanager
async def serving_gateway(store: PostgresEventStore, port: int = 0) -> AsyncIterator[Gateway]:
    """The real gateway on a real socket, with the admin token the operator uses."""
    bus = InMemoryBus()
    await bus.start()
    stop = asyncio.Event()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    settings = GatewaySettings(host="127.0.0.1", port=port, admin_token=TOKEN)
    task = asyncio.create_task(
        run_gateway(
            settings=settings, store=store, bus=bus, stop=stop, on_started=started.set_result
        )
    )
    url = await asyncio.wait_for(started, 20)
    async with aiohttp.ClientSession(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield Gateway(url=url, client=client)
    stop.set()
    await asyncio.wait_for(task, 20)
    await bus.close()


@pytest.fixture
async def gateway(gateway_store: PostgresEventStore) -> AsyncIterator[Gateway]:
    async with serving_gateway(gateway_store) as served:
        yield served


class ScriptedLag:
    """A lag reader whose answers the test sets (the Kafka one is tested in the e2e test)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], int] = {}
        self.asked: list[tuple[str, str]] = []

    async def lag(self, topic: str, group: str) -> int:
        self.asked.append((topic, group))
        return self.values.get((topic, group), 0)


@contextlib.asynccontextmanager
async def running_operator(
    cluster: Cluster,
    gateway_url: str,
    lag: Any,
    *,
    sync: float = 0.2,
    topic_prefix: str = "tideflow",
    wait_ready: bool = True,
    client: GatewayClient | None = None,
    **settings_fields: Any,
) -> AsyncIterator[Wiring]:
    """kopf with the operator's handlers against kmock, until the block ends (`client`: the
    gateway client, if not a plain one; `settings_fields`: more OperatorSettings, e.g.
    peering)."""
    settings = OperatorSettings(gateway_url=gateway_url, **settings_fields)
    if client is None:
        client = GatewayClient(base_url=gateway_url, token=TOKEN, timeout=timedelta(seconds=5))
    replicas = await DeploymentScale.connect(cluster.url)
    wiring = Wiring(
        gateway=client,
        lag=lag,
        replicas=replicas,
        names=PoolNames(topic_prefix=topic_prefix),
        sync_interval=timedelta(seconds=sync),
        status_interval=timedelta(seconds=0.3),
        retry_delay=timedelta(seconds=0.2),
    )
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(
        run_kopf(settings=settings, wiring=wiring, stop=stop, server=cluster.url, ready=ready)
    )
    try:
        if wait_ready:
            await asyncio.wait_for(ready.wait(), 20)
        yield wiring
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await replicas.close()
        await client.close()
