"""Rendering the Helm chart for the checks: the helm binary, value sets, parsed manifests.

The chart is rendered with the real `helm` (scripts/install.sh puts a pinned one in
.tools/bin). A missing binary fails the tests that need it: they never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "tideflow"
RELEASE = "tf"
NAMESPACE = "tideflow"

# What every install must say: where the external systems are.
REQUIRED: dict[str, Any] = {
    "kafka": {"bootstrap": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "database": {"url": "postgresql://tideflow:secret@postgres:5432/tideflow"},
    "redis": {"url": "redis://redis:6379/0"},
}


def _has_rule_files() -> bool:
    return any((CHART / "rules").glob("*.yml"))


# Value sets every check runs against: the defaults, a production-like install with
# existing Secrets, KMS and every optional object, and a stripped-down one.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": REQUIRED,
    "production": {
        "image": {"registry": "registry.example.com", "repositoryPrefix": "platform/tideflow-"},
        "commonLabels": {"team": "platform"},
        "tracing": {"otlpEndpoint": "http://otel-collector.observability:4317", "protocol": "grpc"},
        "extraEnv": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"},
        "kafka": {"bootstrap": "b-1.msk.example.com:9094,b-2.msk.example.com:9094"},
        "database": {"existingSecret": "tideflow-db", "existingSecretKey": "url"},
        "redis": {"existingSecret": "tideflow-redis", "existingSecretKey": "url"},
        "auth": {"existingSecret": "tideflow-admin", "existingSecretKey": "token"},
        "keys": {"kmsKeyId": "alias/tideflow", "kmsRegion": "eu-central-1"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/t"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "workload", "operator": "Equal", "value": "tideflow"}],
        "gateway": {
            "replicas": 3,
            "ingress": {"enabled": True, "className": "nginx", "host": "tideflow.example.com"},
            "extraEnv": {"TIDEFLOW_GATEWAY_PAGE_SIZE_MAX": 200, "OTEL_TRACES_SAMPLER": "always_on"},
        },
        "scheduler": {"pdb": {"enabled": True, "minAvailable": 1}},
        "trigger": {
            "autoscaling": {
                "enabled": True,
                "minReplicas": 2,
                "maxReplicas": 6,
                "targetMemoryUtilizationPercentage": 80,
            }
        },
        "executor": {
            "pools": {
                "default": {
                    "queues": ["default"],
                    "autoscaling": {
                        "enabled": True,
                        "maxReplicas": 30,
                        "scaleDownCooldown": "10m",
                        "scaleToZero": True,
                    },
                },
                "gpu": {
                    "queues": ["llm", "ocr"],
                    "replicas": 1,
                    "concurrency": 8,
                    "modules": ["acme.tasks"],
                    "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
                    "nodeSelector": {"accelerator": "nvidia"},
                },
            }
        },
        "migrations": {"existingSecret": "tideflow-db-owner", "existingSecretKey": "url"},
        "ocr": {
            "s3Buckets": ["acme:acme-invoices", "uploads/{tenant}", "{tenant}-scans/in"],
            "awsEndpointHosts": ["textract.vpce.example", "*.corp.example:443", "[fd00::1]:8443"],
        },
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
            ],
            "metricsFrom": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
        },
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "prometheusRule": {"enabled": _has_rule_files()},
        },
    },
    "minimal": {
        **REQUIRED,
        "auth": {"adminToken": "a-long-admin-token"},
        "serviceAccount": {"create": False, "name": "tideflow-runner"},
        "approval": {"enabled": False},
        "trigger": {"enabled": False},
        "operator": {"enabled": False},
        "collab": {"replicas": 1, "fanout": "none"},
        "gateway": {"replicas": 1, "pdb": {"enabled": False}, "rateLimiter": "memory"},
        "executor": {"pools": {"default": {"queues": ["default", "http"], "replicas": 1}}},
        "migrations": {"enabled": False},
        "metrics": {"dashboards": {"enabled": False}},
    },
}


def helm_binary() -> Path:
    """The helm scripts/install.sh installed, else one on PATH; fails when there is none."""
    local = ROOT / ".tools" / "bin" / "helm"
    if local.is_file():
        return local
    found = shutil.which("helm")
    if found is None:
        pytest.fail("helm not found: run `bash scripts/install.sh` (installs .tools/bin/helm)")
    return Path(found)


@dataclass(frozen=True)
class Rendered:
    """The manifests one `helm template` produced, parsed."""

    values: dict[str, Any]
    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        return found

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.of_kind(kind)}


def _values_file(tmp: Path, values: dict[str, Any]) -> Path:
    path = tmp / "values.json"  # JSON is YAML; no quoting surprises
    path.write_text(json.dumps(values))
    return path


def helm(
    tmp: Path, *args: str, values: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run helm with the given arguments (and a values file); never raises on failure."""
    command = [str(helm_binary()), *args]
    if values is not None:
        command += ["--values", str(_values_file(tmp, values))]
    return subprocess.run(  # noqa: PLW1510  the callers look at returncode and stderr
        command, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def template(tmp: Path, values: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    return helm(
        tmp,
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--include-crds",
        *extra,
        values=values,
    )


def render(tmp: Path, values: dict[str, Any], *extra: str) -> Rendered:
    result = template(tmp, values, *extra)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(values, documents)


def containers(pod_owner: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Deployment or Job."""
    spec = pod_owner["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]
