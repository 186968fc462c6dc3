"""The operator's kopf handlers against kmock and a real gateway.

Workflow resources: create -> stored and published, status Ready with the version; edit ->
a new version; invalid -> problems in the status and no version; the same name in another
namespace -> OwnedElsewhere; gateway down -> GatewayUnavailable, retried until it is back;
delete -> archived in the gateway, the finalizer released. WorkerPools: the Deployment's
replicas follow the lag through the scale subresource. Every request the operator sent is
allowed by its RBAC rules.
"""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from tideflow.operator.rbac import allows

from .conftest import (
    Cluster,
    Gateway,
    ScriptedLag,
    eventually,
    running_operator,
    serving_gateway,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8")))


def ready(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    conditions = ((resource or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def verb_of(request: Any) -> tuple[str, str, str] | None:
    """(API group, resource[/subresource], RBAC verb) of a request to a resource."""
    resource = request.resource
    plural = getattr(resource, "plural", None)
    if resource is None or not isinstance(plural, str):
        return None  # discovery: /api, /apis, /apis/<group>/<version>
    name = plural + (f"/{request.subresource}" if request.subresource else "")
    method = str(getattr(request.method, "value", request.method)).upper()
    watching = request.params.get("watch") in {"true", "1"}
    named = request.name is not None
    verb = {
        "GET": "watch" if watching else ("get" if named else "list"),
        "POST": "create",
        "PATCH": "patch",
        "PUT": "update",
        "DELETE": "delete",
    }[method]
    return str(resource.group or ""), name, verb


def assert_rbac_allows_everything_sent(cluster: Cluster, *, by_test: set[str]) -> None:
    """Requests with kopf's or the Kubernetes client's user agent must be allowed."""
    sent = set()
    for request in cluster.requests():
        agent = request.headers.get("User-Agent", "")
        if "aiohttp" in agent and "kopf" not in agent and "OpenAPI" not in agent:
            continue  # the test's own calls, as `kubectl` would make them
        found = verb_of(request)
        if found is not None:
            sent.add(found)
    assert sent, "the operator sent nothing"
    refused = sorted(s for s in sent if not allows(*s) and s[1] not in by_test)
    assert refused == [], f"not allowed by tideflow.operator.rbac.RULES: {refused}"


async def test_workflow_lifecycle(cluster: Cluster, gateway: Gateway) -> None:  # noqa: PLR0915 - one life, in order
    document = example("hello.yaml")
    document["metadata"]["namespace"] = "team-a"
    async with running_operator(cluster, gateway.url, ScriptedLag()):
        # create -> stored, published, status
        await cluster.apply("workflows", copy.deepcopy(document))

        async def published(version: int) -> dict[str, Any] | None:
            resource = await cluster.get("workflows", "team-a", "hello")
            status = (resource or {}).get("status") or {}
            if (
                status.get("publishedVersion") == version
                and (ready(resource) or {}).get("status") == "True"
            ):
                return resource
            return None

        resource = await eventually(lambda: published(1))
        assert resource["metadata"]["finalizers"] == ["operator.tideflow.io/finalizer"]
        assert resource["status"]["workflowId"] == "hello"
        assert resource["status"]["problems"] == []
        assert ready(resource)["reason"] == "Published"
        stored = await gateway.workflow("hello")
        assert stored is not None
        assert stored["latestVersion"] == 1
        assert stored["definition"]["spec"] == document["spec"]
        annotations = stored["definition"]["metadata"]["annotations"]
        assert annotations["tideflow.io/source"] == "kubernetes:team-a/hello"
        assert annotations["tideflow.io/description"].startswith("Greet someone")

        # edit -> a new version
        spec = copy.deepcopy(document["spec"])
        spec["nodes"][2]["config"]["message"] = "greeted {{ input.name }} again"
        await cluster.patch_spec("workflows", "team-a", "hello", spec)
        resource = await eventually(lambda: published(2))
        assert resource["status"]["observedGeneration"] == 2
        versions = await gateway.versions("hello")
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[0]["definition"]["spec"] == spec

        # an edit the gateway refuses: problems, no version, the old one stays
        broken = copy.deepcopy(spec)
        broken["edges"].append({"from": "note", "to": "nowhere"})
        broken["nodes"][0]["type"] = "no-such-type"
        await cluster.patch_spec("workflows", "team-a", "hello", broken)

        async def refused() -> dict[str, Any] | None:
            resource = await cluster.get("workflows", "team-a", "hello")
            condition = ready(resource) or {}
            return resource if condition.get("reason") == "InvalidDefinition" else None

        resource = await eventually(refused)
        problems = resource["status"]["problems"]
        assert {p["code"] for p in problems} >= {"UNKNOWN_NODE_TYPE", "DANGLING_EDGE"}, problems
        assert ready(resource)["status"] == "False"
        assert resource["status"]["publishedVersion"] == 2
        assert [v["version"] for v in await gateway.versions("hello")] == [2, 1]

        # delete -> archived, finalizer released, object gone
        await cluster.delete("workflows", "team-a", "hello")

        async def gone() -> bool:
            return await cluster.get("workflows", "team-a", "hello") is None

        await eventually(gone)
        archived = await gateway.workflow("hello")
        assert archived is not None
        assert archived["archived"] is True
        assert archived["latestVersion"] == 2  # versions and runs stay readable

        # applied again: restored and published (the archived draft was the broken one)
        await cluster.apply("workflows", copy.deepcopy(document))
        resource = await eventually(lambda: published(3))
        restored = await gateway.workflow("hello")
        assert restored is not None
        assert restored["archived"] is False
    assert_rbac_allows_everything_sent(cluster, by_test=set())


async def test_same_name_in_two_namespaces_is_a_conflict(
    cluster: Cluster, gateway: Gateway
) -> None:
    document = example("saga.yaml")
    async with running_operator(cluster, gateway.url, ScriptedLag()):
        first = copy.deepcopy(document)
        first["metadata"]["namespace"] = "one"
        await cluster.apply("workflows", first)

        async def condition(namespace: str, reason: str) -> bool:
            resource = await cluster.get("workflows", namespace, "book-trip")
            return (ready(resource) or {}).get("reason") == reason

        await eventually(lambda: condition("one", "Published"))
        second = copy.deepcopy(document)
        second["metadata"]["namespace"] = "two"
        second["spec"]["nodes"][0]["config"]["name"] = "book_other_flight"
        await cluster.apply("workflows", second)
        await eventually(lambda: condition("two", "OwnedElsewhere"))
        stored = await gateway.workflow("book-trip")
        assert stored is not None
        assert stored["definition"]["spec"] == document["spec"]  # untouched
        # deleting the second does not archive the first one's workflow
        await cluster.delete("workflows", "two", "book-trip")
        await eventually(lambda: _absent(cluster, "two", "book-trip"))
        kept = await gateway.workflow("book-trip")
        assert kept is not None
        assert kept["archived"] is False


async def _absent(cluster: Cluster, namespace: str, name: str) -> bool:
    return await cluster.get("workflows", namespace, name) is None


def kubectl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The real kubectl against kmock (no kubeconfig: the server is given)."""
    return subprocess.run(
        ["kubectl", f"--server={cluster.url}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": "/dev/null"},
    )


async def test_kubectl_apply_of_every_example(
    cluster: Cluster, gateway: Gateway, tmp_path: Path
) -> None:
    """`kubectl apply -f` of the example files, all at once: each is published unchanged."""
    documents = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        # names of their own (the gateway's database is shared); the files are otherwise as is
        name = document["metadata"]["name"]
        (tmp_path / path.name).write_text(
            text.replace(f"name: {name}", f"name: {name}-k", 1), encoding="utf-8"
        )
        document["metadata"]["name"] = f"{name}-k"
        documents.append(document)
    assert len(documents) >= 6
    async with running_operator(cluster, gateway.url, ScriptedLag()):
        done = await asyncio.to_thread(
            kubectl, cluster, "apply", "--validate=false", "-n", "all", "-f", str(tmp_path)
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("created") == len(documents), done.stdout
        for document in documents:  # what the API server adds to every object it stores
            await cluster.server_metadata("workflows", "all", document["metadata"]["name"])

        async def all_published() -> bool:
            for document in documents:
                found = await cluster.get("workflows", "all", document["metadata"]["name"])
                if (ready(found) or {}).get("reason") != "Published":
                    return False
            return True

        await eventually(all_published)
    for document in documents:
        stored = await gateway.workflow(document["metadata"]["name"])
        assert stored is not None
        assert stored["latestVersion"] == 1
        assert stored["definition"]["spec"] == document["spec"]
        annotations = stored["definition"]["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_gateway_is_reported_and_retried(
    cluster: Cluster, gateway_store: Any
) -> None:
    port = _free_port()
    document = example("signal-wait.yaml")
    async with running_operator(cluster, f"http://127.0.0.1:{port}", ScriptedLag()):
        await cluster.apply("workflows", copy.deepcopy(document))

        async def reason() -> str | None:
            resource = await cluster.get("workflows", "default", "await-payment")
            return (ready(resource) or {}).get("reason")

        assert await eventually(reason) == "GatewayUnavailable"
        async with serving_gateway(gateway_store, port=port) as gateway:

            async def published() -> bool:
                return await reason() == "Published"

            await eventually(published)
            stored = await gateway.workflow("await-payment")
            assert stored is not None
            assert stored["latestVersion"] == 1


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "executor", "image": "tideflow/executor"}]},
            },
        },
    }


async def test_a_workerpool_scales_its_deployment_by_lag(
    cluster: Cluster, gateway: Gateway
) -> None:
    lag = ScriptedLag()
    key = ("tideflow.tasks.llm", "tideflow-executor.llm")
    await cluster.apply("deployments", deployment("executor-llm", "work", 1))
    pool = {
        "apiVersion": "tideflow.io/v1",
        "kind": "WorkerPool",
        "metadata": {"name": "llm", "namespace": "work"},
        "spec": {
            "queue": "llm",
            "deployment": "executor-llm",
            "minReplicas": 1,
            "maxReplicas": 5,
            "targetLagPerReplica": 10,
            "scaleUpCooldown": 0,
            "scaleDownCooldown": 0,
            "maxScaleUpStep": 2,
            "maxScaleDownStep": 5,
            "scaleToZero": True,
            "idleBeforeZero": 0,
        },
    }
    async with running_operator(cluster, gateway.url, lag):

        async def replicas(expected: int) -> dict[str, Any] | None:
            found = await cluster.get("deployments", "work", "executor-llm")
            return found if found and found["spec"]["replicas"] == expected else None

        lag.values[key] = 45  # wants 5, at most 2 more per look
        await cluster.apply("workerpools", pool)
        await eventually(lambda: replicas(3))
        await eventually(lambda: replicas(5))
        status = (await cluster.get("workerpools", "work", "llm"))["status"]  # type: ignore[index]
        assert status["lag"] == 45
        assert status["lastScaleUpTime"]
        lag.values[key] = 500  # saturated: stays at the maximum
        await eventually(lambda: _reason(cluster, "AtMaxReplicas"))
        assert await replicas(5)
        lag.values[key] = 0  # idle: to zero (no idle time, no cooldown)
        await eventually(lambda: replicas(0))
        await eventually(lambda: _reason(cluster, "Idle"))
        lag.values[key] = 3  # work again: from zero at once
        await eventually(lambda: replicas(1))
        # paused: observed and reported, not applied
        await cluster.patch_spec("workerpools", "work", "llm", {**pool["spec"], "paused": True})
        lag.values[key] = 40
        await eventually(lambda: _reason(cluster, "Paused"))
        status = (await cluster.get("workerpools", "work", "llm"))["status"]  # type: ignore[index]
        assert status["desiredReplicas"] == 3
        assert await replicas(1)
        # a pool naming a missing Deployment says so
        await cluster.apply(
            "workerpools",
            {**copy.deepcopy(pool), "metadata": {"name": "ghost", "namespace": "work"},
             "spec": {**pool["spec"], "deployment": "no-such-deployment"}},
        )  # fmt: skip

        async def missing() -> bool:
            found = await cluster.get("workerpools", "work", "ghost")
            conditions = ((found or {}).get("status") or {}).get("conditions") or []
            assert any(c["reason"] == "DeploymentNotFound" for c in conditions), found
            return True

        await eventually(missing)
    assert ("tideflow.tasks.llm", "tideflow-executor.llm") in lag.asked
    labels = {"namespace": "work", "pool": "llm", "queue": "llm"}
    assert REGISTRY.get_sample_value("tideflow_workerpool_lag", labels) == 40
    assert REGISTRY.get_sample_value("tideflow_workerpool_desired_replicas", labels) == 3
    assert (
        REGISTRY.get_sample_value(
            "tideflow_workerpool_scalings_total", {**labels, "direction": "up"}
        )
        >= 3
    )  # 1 -> 3 -> 5, 0 -> 1
    assert (
        REGISTRY.get_sample_value(
            "tideflow_workerpool_look_failures_total",
            {"namespace": "work", "pool": "ghost", "reason": "DeploymentNotFound"},
        )
        >= 1
    )
    assert_rbac_allows_everything_sent(cluster, by_test=set())


async def _reason(cluster: Cluster, reason: str) -> bool:
    found = await cluster.get("workerpools", "work", "llm")
    return ((found or {}).get("status") or {}).get("reason") == reason
