"""Each container's environment, as the chart renders it, loads into its service's settings.

Names alone (test_helm_chart.py) do not catch a value in the wrong format: a duration
Tideflow cannot parse, a list that is not JSON, a boolean spelled differently. Here every
variable is resolved the way the kubelet does (literal values, ConfigMap and Secret keys of
the same render; an existing Secret gets a stand-in value), the service's settings class is
built from exactly that environment, and the result is compared with the values given.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from tideflow.settings import DatabaseSettings, EgressSettings, ObservabilitySettings, OcrSettings

from .chart import REQUIRED, SCENARIOS, Rendered, containers, render, template

pytestmark = pytest.mark.unit

# What an existing Secret holds in these checks.
STAND_INS = {
    "tideflow-db": {"url": "postgresql://tideflow:pw@db.example.com:5432/tideflow"},
    "tideflow-db-owner": {"url": "postgresql://owner:pw@db.example.com:5432/tideflow"},
    "tideflow-redis": {"url": "rediss://:token@redis.example.com:6379/0"},
    "tideflow-admin": {"token": "an-admin-token-from-a-secret"},
    "operator-token": {"token": "an-operator-token"},
}


def resolve(container: dict[str, Any], result: Rendered) -> dict[str, str]:
    """The environment the kubelet would give the container."""
    config = {cm["metadata"]["name"]: cm["data"] for cm in result.of_kind("ConfigMap")}
    secrets = {
        s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for s in result.of_kind("Secret")
    }
    secrets = {**STAND_INS, **secrets}
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        source = entry.get("valueFrom")
        if source is None:
            env[entry["name"]] = str(entry["value"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[entry["name"]] = config[ref["name"]][ref["key"]]
        else:
            ref = source["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Replace every TIDEFLOW_* variable of this process by the given ones."""

    def apply(env: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.startswith("TIDEFLOW_"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return apply


def workloads(result: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    for deployment in result.of_kind("Deployment"):
        yield deployment["metadata"]["labels"]["tideflow.io/service"], deployment


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_service_loads_its_settings_from_the_rendered_env(
    scenario: str,
    rendered: dict[str, Rendered],
    settings_of: Callable[[str], type[BaseSettings]],
    environment: Callable[[dict[str, str]], None],
) -> None:
    result = rendered[scenario]
    values = SCENARIOS[scenario]
    loaded = 0
    for service, deployment in workloads(result):
        (container,) = containers(deployment)
        env = resolve(container, result)
        environment(env)
        settings: Any = settings_of(service)()
        where = f"{scenario}: {service}"
        assert settings.port == container["ports"][0]["containerPort"], where
        assert settings.host == "0.0.0.0", where  # noqa: S104
        kafka = getattr(settings, "kafka", None)
        if kafka is not None:
            assert kafka.bootstrap == values["kafka"]["bootstrap"], where
            assert kafka.replication_factor == 3, where  # the chart's default
        database = getattr(settings, "database", None)
        if database is not None:
            expected = values["database"].get("url") or STAND_INS["tideflow-db"]["url"]
            assert database.url == expected, where
            assert database.statement_timeout.total_seconds() == 30, where
        if service == "executor":
            pool = deployment["metadata"]["name"].rsplit("executor-", 1)[1]
            spec = values.get("executor", {}).get("pools", {}).get(pool, {})
            assert settings.queues == spec.get("queues", ["default"]), where
            assert settings.modules == spec.get("modules", []), where
        observability = settings.observability
        assert (observability.log_level, observability.log_json) == ("INFO", True), where
        loaded += 1
    assert loaded >= 4


def test_extra_env_reaches_the_settings(
    tmp_path: Path,
    settings_of: Callable[[str], type[BaseSettings]],
    environment: Callable[[dict[str, str]], None],
) -> None:
    values = {
        **REQUIRED,
        "logging": {"level": "DEBUG", "json": False},
        "gateway": {"extraEnv": {"TIDEFLOW_GATEWAY_PAGE_SIZE_MAX": 42}},
        "scheduler": {"batchMax": 77},
    }
    result = render(tmp_path, values)
    for service, deployment in workloads(result):
        if service not in {"gateway", "scheduler"}:
            continue
        (container,) = containers(deployment)
        environment(resolve(container, result))
        settings: Any = settings_of(service)()
        assert (settings.observability.log_level, settings.observability.log_json) == (
            "DEBUG",
            False,
        )
        if service == "gateway":
            assert settings.page_size_max == 42
        else:
            assert settings.batch_max == 77


def test_the_migration_job_reaches_the_migration_database(
    rendered: dict[str, Rendered], environment: Callable[[dict[str, str]], None]
) -> None:
    expected = {
        "defaults": REQUIRED["database"]["url"],
        "production": STAND_INS["tideflow-db-owner"]["url"],
    }
    for scenario, url in expected.items():
        result = rendered[scenario]
        (job,) = result.of_kind("Job")
        (container,) = containers(job)
        environment(resolve(container, result))
        assert DatabaseSettings().url == url
        assert ObservabilitySettings().log_json is True


def test_executor_queues_are_json(rendered: dict[str, Rendered]) -> None:
    """The executor reads its list settings as JSON (pydantic-settings), not comma lists."""
    for service, deployment in workloads(rendered["production"]):
        if service == "executor":
            (container,) = containers(deployment)
            env = resolve(container, rendered["production"])
            assert isinstance(json.loads(env["TIDEFLOW_EXECUTOR_QUEUES"]), list)


@pytest.mark.parametrize("scenario", ["defaults", "production"])
def test_ocr_values_reach_the_services_that_read_them(
    scenario: str,
    rendered: dict[str, Rendered],
    settings_of: Callable[[str], type[BaseSettings]],
    environment: Callable[[dict[str, str]], None],
) -> None:
    """`ocr.s3Buckets` reaches every executor pool; `ocr.awsEndpointHosts` the executors
    (checked on every attempt) and the gateway and collab (checked at publish)."""
    result = rendered[scenario]
    ocr = SCENARIOS[scenario].get("ocr", {})
    buckets, hosts = ocr.get("s3Buckets", []), ocr.get("awsEndpointHosts", [])
    seen = set()
    for service, deployment in workloads(result):
        (container,) = containers(deployment)
        env = resolve(container, result)
        environment(env)
        if service == "executor":
            assert OcrSettings().s3_buckets == buckets
            assert EgressSettings().aws_endpoint_hosts == hosts
        elif service in {"gateway", "collab"}:
            settings: Any = settings_of(service)()
            assert settings.egress.aws_endpoint_hosts == hosts
        else:
            assert "TIDEFLOW_OCR_S3_BUCKETS" not in env, service
            assert "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS" not in env, service
            continue
        seen.add(service)
    assert seen == {"executor", "gateway", "collab"}


@pytest.mark.parametrize(
    ("ocr", "field"),
    [
        ({"s3Buckets": ["s3://inbox"]}, "s3Buckets"),
        ({"s3Buckets": ["Acme:inbox"]}, "s3Buckets"),
        ({"s3Buckets": "inbox"}, "s3Buckets"),
        ({"awsEndpointHosts": ["https://textract.vpce.example"]}, "awsEndpointHosts"),
        ({"awsEndpointHosts": ["vpce.example/path"]}, "awsEndpointHosts"),
        ({"endpointHosts": []}, "endpointHosts"),
    ],
)
def test_malformed_ocr_values_fail_the_install(
    tmp_path: Path, ocr: dict[str, Any], field: str
) -> None:
    """Entries the executor would refuse at start (or match nothing) fail `helm install`."""
    result = template(tmp_path, {**REQUIRED, "ocr": ocr})
    assert result.returncode != 0
    assert field in result.stderr
