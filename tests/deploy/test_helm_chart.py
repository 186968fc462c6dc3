"""The Helm chart renders, lints, validates against Kubernetes' schemas and fits the code.

No cluster runs here, so these checks stand in for `helm install`: every manifest of a
few value sets is validated with kubernetes-validate (strict: an unknown field fails), and
the manifests are checked against what the services really read and serve: every
TIDEFLOW_* variable a container gets is read by that service's settings class (derived
from the classes), probes hit /healthz and /readyz on the port the service listens on,
references to ConfigMaps and Secrets resolve, selectors select, pods run as the image's
non-root user, and the generated key file opens with the services' own key provider.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tideflow.auth import LocalKeyFile
from tideflow.settings import DatabaseSettings, ObservabilitySettings

from .chart import (
    CHART,
    NAMESPACE,
    RELEASE,
    REQUIRED,
    SCENARIOS,
    Rendered,
    containers,
    helm,
    render,
    template,
)

pytestmark = pytest.mark.unit

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema.
KUBERNETES_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
# Custom resources of other projects: no schema here; their checks are below.
FOREIGN_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# What `tide db migrate` reads.
MIGRATE_SETTINGS: tuple[type[BaseSettings], ...] = (DatabaseSettings, ObservabilitySettings)

EnvNames = Callable[[type[BaseModel]], frozenset[str]]


def scenario_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in SCENARIOS]


def pod_spec(owner: dict[str, Any]) -> dict[str, Any]:
    return dict(owner["spec"]["template"]["spec"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


@pytest.mark.parametrize("scenario", scenario_params())
def test_helm_lint_is_clean(scenario: str, tmp_path: Path) -> None:
    result = helm(tmp_path, "lint", "--strict", str(CHART), values=SCENARIOS[scenario])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(
    scenario: str, version: str, rendered: dict[str, Rendered]
) -> None:
    documents = rendered[scenario].documents
    assert documents
    for document in documents:
        if (document["apiVersion"], document["kind"]) in FOREIGN_KINDS:
            continue
        if document["apiVersion"] in {"tideflow.io/v1", "kopf.dev/v1"}:
            continue  # custom resources: against the chart's CRDs in test_helm_workerpools.py
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            name = f"{document['kind']}/{document['metadata']['name']}"
            pytest.fail(f"{scenario}: {name} is not valid Kubernetes {version}: {e.message}")


CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}  # the operator's


def test_every_object_is_namespaced_and_labelled(rendered: dict[str, Rendered]) -> None:
    for scenario, result in rendered.items():
        for document in result.documents:
            metadata = document["metadata"]
            name = f"{scenario}: {document['kind']}/{metadata['name']}"
            if document["kind"] == "CustomResourceDefinition":
                continue
            if document["kind"] not in CLUSTER_SCOPED:
                assert metadata["namespace"] == NAMESPACE, name
            labels = metadata["labels"]
            assert labels["app.kubernetes.io/instance"] == RELEASE, name
            assert labels["app.kubernetes.io/part-of"] == "tideflow", name
            if "commonLabels" in result.values:
                assert result.values["commonLabels"].items() <= labels.items(), name
            assert len(metadata["name"]) <= 63, name


def test_one_deployment_per_service(
    rendered: dict[str, Rendered], tideflow_services: list[str]
) -> None:
    defaults = rendered["defaults"]
    deployed = {
        deployment["metadata"]["labels"]["tideflow.io/service"]
        for deployment in defaults.of_kind("Deployment")
    }
    assert deployed == set(tideflow_services)
    pools = SCENARIOS["production"]["executor"]["pools"]
    names = rendered["production"].names("Deployment")
    assert {f"{RELEASE}-tideflow-executor-{pool}" for pool in pools} <= names
    minimal = rendered["minimal"].of_kind("Deployment")
    assert {d["metadata"]["labels"]["tideflow.io/service"] for d in minimal} == {
        "gateway",
        "scheduler",
        "executor",
        "collab",
    }


@pytest.mark.parametrize("scenario", scenario_params())
def test_containers_get_only_variables_their_settings_read(
    scenario: str,
    rendered: dict[str, Rendered],
    settings_of: Callable[[str], type[BaseSettings]],
    env_names: EnvNames,
) -> None:
    checked = 0
    for deployment in rendered[scenario].of_kind("Deployment"):
        service = deployment["metadata"]["labels"]["tideflow.io/service"]
        valid = env_names(settings_of(service))
        for container in containers(deployment):
            for name in env_of(container):
                if name.startswith("OTEL_"):
                    continue  # OpenTelemetry's own variables (test_tracing_reaches_every_service)
                assert name.upper() in valid, f"{scenario}: {service} gets {name}; nothing reads it"
                checked += 1
    valid = frozenset().union(*(env_names(cls) for cls in MIGRATE_SETTINGS))
    for job in rendered[scenario].of_kind("Job"):
        for container in containers(job):
            assert container["command"] == ["tide", "db", "migrate"]
            for name in env_of(container):
                assert name in valid, f"{scenario}: the migration job gets {name}"
    assert checked


def test_the_services_get_the_systems_they_talk_to(rendered: dict[str, Rendered]) -> None:
    """The essentials are set explicitly, not left to the settings' loopback defaults."""
    needs = {
        "gateway": {
            "TIDEFLOW_DATABASE_URL",
            "TIDEFLOW_KAFKA_BOOTSTRAP",
            "TIDEFLOW_REDIS_URL",
            "TIDEFLOW_KAFKA_REPLICATION_FACTOR",
        },
        "scheduler": {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP"},
        "executor": {
            "TIDEFLOW_DATABASE_URL",
            "TIDEFLOW_KAFKA_BOOTSTRAP",
            "TIDEFLOW_REDIS_URL",
            "TIDEFLOW_EXECUTOR_QUEUES",
        },
        # the tenants' rate-limit buckets are the gateway's: the same Redis
        "approval": {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP", "TIDEFLOW_REDIS_URL"},
        "trigger": {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP", "TIDEFLOW_REDIS_URL"},
        "collab": {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_REDIS_URL", "TIDEFLOW_COLLAB_FANOUT"},
    }
    for scenario, result in rendered.items():
        for deployment in result.of_kind("Deployment"):
            service = deployment["metadata"]["labels"]["tideflow.io/service"]
            (container,) = containers(deployment)
            env = env_of(container)
            missing = needs.get(service, set()) - env.keys()
            assert not missing, f"{scenario}: {service} lacks {missing}"
            port = str(container["ports"][0]["containerPort"])
            assert env[f"TIDEFLOW_{service.upper()}_PORT"]["value"] == port
            assert env[f"TIDEFLOW_{service.upper()}_HOST"]["value"] == "0.0.0.0"  # noqa: S104


def test_executor_pools_consume_their_queues(rendered: dict[str, Rendered]) -> None:
    production = rendered["production"]
    for pool, spec in SCENARIOS["production"]["executor"]["pools"].items():
        deployment = production.named("Deployment", f"{RELEASE}-tideflow-executor-{pool}")
        assert deployment["spec"].get("replicas") == spec.get("replicas")
        (container,) = containers(deployment)
        env = env_of(container)
        assert json.loads(env["TIDEFLOW_EXECUTOR_QUEUES"]["value"]) == spec["queues"]
        assert json.loads(env["TIDEFLOW_EXECUTOR_MODULES"]["value"]) == spec.get("modules", [])
        if "resources" in spec:
            assert container["resources"]["requests"] == spec["resources"]["requests"]
            assert container["resources"]["limits"]["memory"] == "1Gi"  # the executor default
        if "nodeSelector" in spec:
            assert pod_spec(deployment)["nodeSelector"] == spec["nodeSelector"]
        assert (
            env["TIDEFLOW_GATEWAY_HOST"]["value"] == f"{RELEASE}-tideflow-gateway.{NAMESPACE}.svc"
        )


@pytest.mark.parametrize("scenario", scenario_params())
def test_config_and_secret_references_resolve(scenario: str, rendered: dict[str, Rendered]) -> None:
    """Each reference names a rendered ConfigMap/Secret with that key, or an existing Secret
    the values named (existingSecret)."""
    result = rendered[scenario]
    values = result.values
    config_maps = {cm["metadata"]["name"]: cm["data"] for cm in result.of_kind("ConfigMap")}
    secrets = {s["metadata"]["name"]: s["data"] for s in result.of_kind("Secret")}
    external = {
        (values[part]["existingSecret"], values[part]["existingSecretKey"])
        for part in ("database", "redis", "auth", "migrations")
        if values.get(part, {}).get("existingSecret")
    }
    owners = [*result.of_kind("Deployment"), *result.of_kind("Job")]
    for owner in owners:
        for container in containers(owner):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    assert ref["key"] in config_maps[ref["name"]], entry
                elif "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    if (ref["name"], ref["key"]) not in external:
                        assert ref["key"] in secrets[ref["name"]], entry
                else:
                    assert "value" in entry, entry
        for volume in pod_spec(owner).get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                keys = values.get("keys", {})
                assert name in secrets or name == keys.get("existingSecret"), volume


def test_secrets_hold_the_values_given(rendered: dict[str, Rendered]) -> None:
    secret = rendered["defaults"].named("Secret", f"{RELEASE}-tideflow")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in secret.items()}
    assert decoded == {
        "database-url": REQUIRED["database"]["url"],
        "redis-url": REQUIRED["redis"]["url"],
    }
    minimal = rendered["minimal"].named("Secret", f"{RELEASE}-tideflow")["data"]
    assert base64.b64decode(minimal["admin-token"]).decode() == "a-long-admin-token"
    # with every credential in an existing Secret the chart renders none of its own
    assert f"{RELEASE}-tideflow" not in rendered["production"].names("Secret")


@pytest.mark.parametrize("scenario", scenario_params())
def test_probes_hit_health_endpoints_on_the_service_port(
    scenario: str, rendered: dict[str, Rendered], settings_of: Callable[[str], type[BaseSettings]]
) -> None:
    for deployment in rendered[scenario].of_kind("Deployment"):
        service = deployment["metadata"]["labels"]["tideflow.io/service"]
        (container,) = containers(deployment)
        (port,) = container["ports"]
        assert port["name"] == "http"
        assert port["containerPort"] == settings_of(service).model_fields["port"].default
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, service


@pytest.mark.parametrize("scenario", scenario_params())
def test_services_and_budgets_select_their_pods(
    scenario: str, rendered: dict[str, Rendered]
) -> None:
    result = rendered[scenario]
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in result.of_kind("Deployment")
    }
    for deployment in result.of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pods[deployment["metadata"]["name"]].items()

    def selected(selector: dict[str, str]) -> list[str]:
        return [name for name, labels in pods.items() if selector.items() <= labels.items()]

    for service in result.of_kind("Service"):
        assert len(selected(service["spec"]["selector"])) == 1, service["metadata"]["name"]
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    for budget in result.of_kind("PodDisruptionBudget"):
        assert len(selected(budget["spec"]["selector"]["matchLabels"])) == 1
    # every Deployment with more than one replica has a budget (unless turned off)
    budgets = result.names("PodDisruptionBudget")
    for deployment in result.of_kind("Deployment"):
        if deployment["spec"].get("replicas", 2) > 1:  # none: scaled by the operator
            assert deployment["metadata"]["name"] in budgets


@pytest.mark.parametrize("scenario", scenario_params())
def test_pods_run_unprivileged_as_the_image_user(
    scenario: str, rendered: dict[str, Rendered], image: Any
) -> None:
    owners = [*rendered[scenario].of_kind("Deployment"), *rendered[scenario].of_kind("Job")]
    for owner in owners:
        spec = pod_spec(owner)
        # only the operator talks to the Kubernetes API (test_helm_operator.py)
        operator = owner["metadata"]["labels"].get("tideflow.io/service") == "operator"
        assert spec["automountServiceAccountToken"] is operator
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True
        for container in containers(owner):
            service = container["image"].rsplit("/", 1)[-1].split(":")[0].split("@")[0]
            service = service.removeprefix("tideflow-")
            final = image(service).last_stage()
            user, _, group = final.all("USER")[-1].partition(":")
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (user, group)
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"], owner["metadata"]["name"]
            assert container["resources"]["limits"]["memory"], owner["metadata"]["name"]


def test_images_and_commands(rendered: dict[str, Rendered], image: Any) -> None:
    for deployment in rendered["defaults"].of_kind("Deployment"):
        service = deployment["metadata"]["labels"]["tideflow.io/service"]
        (container,) = containers(deployment)
        assert container["image"] == f"tideflow/{service}:0.1.0"
        image_cmd = image(service).cmd()
        assert container["command"] == image_cmd[:3] == ["tide", "serve", service]
    for deployment in rendered["production"].of_kind("Deployment"):
        service = deployment["metadata"]["labels"]["tideflow.io/service"]
        (container,) = containers(deployment)
        expected = f"registry.example.com/platform/tideflow-{service}:0.1.0"
        assert container["image"] == expected


def test_generated_key_file_opens_with_the_key_provider(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    """The kek.json the chart generates is one the services' LocalKeyFile reads, and every
    service that seals or opens secrets mounts that same Secret."""
    defaults = rendered["defaults"]
    keys = defaults.named("Secret", f"{RELEASE}-tideflow-keys")
    assert keys["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    path = tmp_path / "kek.json"
    path.write_bytes(base64.b64decode(keys["data"]["kek.json"]))
    provider = LocalKeyFile(path)
    data_key = bytes(range(32))

    async def round_trip() -> bytes:
        wrapped = await provider.wrap(data_key, {"tenant": "t"})
        return await provider.unwrap(wrapped, {"tenant": "t"})

    assert asyncio.run(round_trip()) == data_key
    mounting = set()
    for deployment in defaults.of_kind("Deployment"):
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        if "keys" in volumes:
            assert volumes["keys"]["secret"]["secretName"] == keys["metadata"]["name"]
            (container,) = containers(deployment)
            env = env_of(container)
            mount = next(m for m in container["volumeMounts"] if m["name"] == "keys")
            assert env["TIDEFLOW_SECURITY_KEY_FILE"]["value"] == f"{mount['mountPath']}/kek.json"
            mounting.add(deployment["metadata"]["labels"]["tideflow.io/service"])
    assert mounting == {"gateway", "executor", "approval", "trigger", "collab"}


def test_kms_replaces_the_key_file(rendered: dict[str, Rendered]) -> None:
    production = rendered["production"]
    assert f"{RELEASE}-tideflow-keys" not in production.names("Secret")
    config = production.named("ConfigMap", f"{RELEASE}-tideflow-config")["data"]
    assert config["TIDEFLOW_SECURITY_KMS_KEY_ID"] == "alias/tideflow"
    assert config["TIDEFLOW_SECURITY_KMS_REGION"] == "eu-central-1"
    for deployment in production.of_kind("Deployment"):
        (container,) = containers(deployment)
        assert "TIDEFLOW_SECURITY_KEY_FILE" not in env_of(container)
        assert all(v["name"] != "keys" for v in pod_spec(deployment)["volumes"])


def test_migrations_run_as_a_hook_before_install_and_upgrade(
    rendered: dict[str, Rendered],
) -> None:
    defaults = rendered["defaults"]
    (job,) = defaults.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = containers(job)
    assert container["command"] == ["tide", "db", "migrate"]
    assert container["image"] == "tideflow/scheduler:0.1.0"
    assert pod_spec(job)["restartPolicy"] == "Never"
    # The URL comes from a hook Secret created before the Job (the release's own Secret
    # does not exist yet during pre-install).
    ref = env_of(container)["TIDEFLOW_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = defaults.named("Secret", ref["name"])
    secret_annotations = secret["metadata"]["annotations"]
    assert secret_annotations["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(secret_annotations["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == REQUIRED["database"]["url"]
    # no container reads a ConfigMap during pre-install
    assert all("valueFrom" not in e or "secretKeyRef" in e["valueFrom"] for e in container["env"])
    production = rendered["production"]
    (job,) = production.of_kind("Job")
    ref = env_of(containers(job)[0])["TIDEFLOW_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "tideflow-db-owner", "key": "url"}
    assert not rendered["minimal"].of_kind("Job")


def test_ingress_and_service_monitor(rendered: dict[str, Rendered]) -> None:
    production = rendered["production"]
    (ingress,) = production.of_kind("Ingress")
    paths = {
        path["path"]: path["backend"]["service"]["name"]
        for path in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {
        "/": f"{RELEASE}-tideflow-gateway",
        "/collab": f"{RELEASE}-tideflow-collab",
        "/approvals": f"{RELEASE}-tideflow-approval",
        "/hooks": f"{RELEASE}-tideflow-trigger",
        "/events": f"{RELEASE}-tideflow-trigger",
        "/asyncapi.json": f"{RELEASE}-tideflow-trigger",
    }
    assert set(paths.values()) <= production.names("Service")
    # the trigger management routes under /workflows go through the gateway, which
    # forwards them to the trigger service's Service
    gateway = production.named("Deployment", f"{RELEASE}-tideflow-gateway")
    (container,) = containers(gateway)
    forward = env_of(container)["TIDEFLOW_GATEWAY_TRIGGER_URL"]["value"]
    trigger = production.named("Service", f"{RELEASE}-tideflow-trigger")
    assert forward == f"http://{RELEASE}-tideflow-trigger:{trigger['spec']['ports'][0]['port']}"
    (monitor,) = production.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]
    monitored = [
        s
        for s in production.of_kind("Service")
        if selector["matchLabels"].items() <= s["metadata"]["labels"].items()
        and "tideflow.io/service" in s["metadata"]["labels"]
    ]
    services = {s["metadata"]["labels"]["tideflow.io/service"] for s in monitored}
    deployed = {
        d["metadata"]["labels"]["tideflow.io/service"] for d in production.of_kind("Deployment")
    }
    assert services == deployed
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert not rendered["defaults"].of_kind("ServiceMonitor")


def test_dashboards_are_config_maps_for_the_grafana_sidecar(rendered: dict[str, Rendered]) -> None:
    files = sorted((CHART / "dashboards").glob("*.json"))
    maps = [
        cm
        for cm in rendered["defaults"].of_kind("ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(maps) == len(files)
    contents = {name: text for cm in maps for name, text in cm["data"].items()}
    for path in files:
        assert json.loads(contents[path.name]) == json.loads(path.read_text())
    assert not [
        cm
        for cm in rendered["minimal"].of_kind("ConfigMap")
        if "grafana_dashboard" in cm["metadata"]["labels"]
    ]


def test_prometheus_rule_carries_the_rule_groups(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    files = sorted((CHART / "rules").glob("*.yml"))
    values = {**REQUIRED, "metrics": {"prometheusRule": {"enabled": True}}}
    if not files:
        result = template(tmp_path, values)
        assert result.returncode != 0
        assert "no rule files" in result.stderr
        return
    import yaml

    expected = [group for path in files for group in yaml.safe_load(path.read_text())["groups"]]
    (rule,) = render(tmp_path, values).of_kind("PrometheusRule")
    assert rule["spec"]["groups"] == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**REQUIRED, "kafka": {}}, "kafka.bootstrap is required"),
        ({**REQUIRED, "database": {}}, "database.url (or database.existingSecret) is required"),
        ({**REQUIRED, "redis": {}}, "redis.url (or redis.existingSecret) is required"),
        ({**REQUIRED, "gateway": {"replica": 3}}, "'replica' not allowed"),
        ({**REQUIRED, "scheduler": {"replicas": -1}}, "replicas"),
        ({**REQUIRED, "executor": {"pools": {"Bad_Name": {"queues": ["q"]}}}}, "Bad_Name"),
        ({**REQUIRED, "executor": {"pools": {"io": {"queues": []}}}}, "queues"),
        ({**REQUIRED, "kafka": {"bootstrap": "no-port"}}, "bootstrap"),
        ({**REQUIRED, "logging": {"level": "LOUD"}}, "level"),
        ({**REQUIRED, "keys": {"generate": False}}, "keys.kmsKeyId, keys.existingSecret"),
        ({**REQUIRED, "collab": {"fanout": "none", "replicas": 2}}, "one replica only"),
    ],
    ids=[
        "no-kafka",
        "no-database",
        "no-redis",
        "typo",
        "negative-replicas",
        "bad-pool-name",
        "pool-without-queues",
        "bootstrap-without-port",
        "log-level",
        "no-key-provider",
        "collab-fanout-none-replicas",
    ],
)
def test_bad_values_fail_with_a_clear_message(
    values: dict[str, Any], message: str, tmp_path: Path
) -> None:
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_the_default_executor_pool_can_be_replaced(tmp_path: Path) -> None:
    values = {
        **REQUIRED,
        "executor": {"pools": {"default": None, "io": {"queues": ["http"], "replicas": 3}}},
    }
    result = render(tmp_path, values)
    executors = [
        d
        for d in result.of_kind("Deployment")
        if d["metadata"]["labels"]["tideflow.io/service"] == "executor"
    ]
    assert [d["metadata"]["name"] for d in executors] == [f"{RELEASE}-tideflow-executor-io"]
    (container,) = containers(executors[0])
    queues = next(e["value"] for e in container["env"] if e["name"] == "TIDEFLOW_EXECUTOR_QUEUES")
    assert json.loads(queues) == ["http"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_leave_only_the_public_services_open(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    assert not rendered["defaults"].of_kind("NetworkPolicy")
    # no ingressFrom: the public services take their port from anywhere, the rest do not
    policies = render(tmp_path, {**REQUIRED, "networkPolicy": {"enabled": True}})
    rules = {p["metadata"]["name"]: p["spec"]["ingress"] for p in policies.of_kind("NetworkPolicy")}
    assert rules[f"{RELEASE}-tideflow-public"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert all(rule["from"] for rule in rules[f"{RELEASE}-tideflow-internal"])
    production = rendered["production"]
    values = SCENARIOS["production"]["networkPolicy"]
    policies = production.of_kind("NetworkPolicy")
    public = {"gateway", "approval", "trigger", "collab"}
    release = {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/name": "tideflow",
            }
        }
    }
    for deployment in production.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        sources = rule["from"]
        if labels["tideflow.io/service"] in public:
            assert sources == [release, *values["ingressFrom"], *values["metricsFrom"]]
        else:
            assert sources == [release, *values["metricsFrom"]]


def test_tracing_reaches_every_service(rendered: dict[str, Rendered]) -> None:
    values = SCENARIOS["production"]
    for deployment in rendered["production"].of_kind("Deployment"):
        (container,) = containers(deployment)
        env = env_of(container)
        service = deployment["metadata"]["labels"]["tideflow.io/service"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == values["tracing"]["otlpEndpoint"]
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
        expected = "always_on" if service == "gateway" else "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER"]["value"] == expected, service
    for deployment in rendered["defaults"].of_kind("Deployment"):
        (container,) = containers(deployment)
        assert not [name for name in env_of(container) if name.startswith("OTEL_")]


def test_workflow_requests_cannot_reach_the_release_services(
    rendered: dict[str, Rendered],
    settings_of: Callable[[str], type[BaseSettings]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Executor and trigger (outbound webhooks) refuse every Service of the release."""
    for scenario, result in rendered.items():
        services = {
            f"{s['metadata']['name']}.{NAMESPACE}.svc:{s['spec']['ports'][0]['port']}"
            for s in result.of_kind("Service")
            if "tideflow.io/service" in s["metadata"]["labels"]
        }
        checked = 0
        for deployment in result.of_kind("Deployment"):
            service = deployment["metadata"]["labels"]["tideflow.io/service"]
            if service not in {"executor", "trigger"}:
                continue
            (container,) = containers(deployment)
            value = env_of(container)["TIDEFLOW_EGRESS_PROTECTED"]["value"]
            monkeypatch.setenv("TIDEFLOW_EGRESS_PROTECTED", value)
            settings: Any = settings_of(service)()
            assert set(settings.egress.protected) == services, f"{scenario}: {service}"
            checked += 1
        assert checked, scenario


def test_autoscaled_services_get_a_cpu_autoscaler(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    assert not rendered["defaults"].of_kind("HorizontalPodAutoscaler")
    production = rendered["production"]
    wanted = SCENARIOS["production"]["trigger"]["autoscaling"]
    (hpa,) = production.of_kind("HorizontalPodAutoscaler")
    target = production.named("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert target["metadata"]["labels"]["tideflow.io/service"] == "trigger"
    assert "replicas" not in target["spec"], "the autoscaler owns the replicas"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": wanted["targetMemoryUtilizationPercentage"]}
    # a collab room of one replica cannot be autoscaled
    values = {
        **REQUIRED,
        "collab": {"fanout": "none", "replicas": 1, "autoscaling": {"enabled": True}},
    }
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert "one replica only" in result.stderr
