"""docker-compose.yml, the Dockerfiles and prometheus.yml agree with each other and the code.

There is no Docker engine to bring the stack up here, so these checks stand in for it: a
container whose env name no settings class reads, a Dockerfile exposing the wrong port, a
dependency on a container that does not exist, or two containers on one host port would
each otherwise only show up on someone's `docker compose up`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tideflow.settings import DatabaseSettings, ObservabilitySettings

from .images import compose_build_args

pytestmark = pytest.mark.unit

# `tide` commands other than `serve` that a container may run, and the settings they read.
CLI_COMMAND_SETTINGS: dict[tuple[str, ...], tuple[type[BaseSettings], ...]] = {
    ("db", "migrate"): (DatabaseSettings, ObservabilitySettings),
}
# TIDEFLOW_* variables whose value names another container: host part of a URL or host:port.
ADDRESS_VARIABLES = ("TIDEFLOW_DATABASE_URL", "TIDEFLOW_REDIS_URL", "TIDEFLOW_KAFKA_BOOTSTRAP")

SERVICES = sorted(
    path.parent.name for path in (Path(__file__).resolve().parents[2] / "services").glob("*/src")
)

EnvNames = Callable[[type[BaseModel]], frozenset[str]]


def services_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def built_from(spec: dict[str, Any], root: Path) -> Path | None:
    build = spec.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return root / build / "Dockerfile"
    return root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def container_command(
    spec: dict[str, Any], root: Path, dockerfile: Callable[..., Any]
) -> list[str]:
    """What the container runs: compose `command`, else the image's CMD."""
    command = spec.get("command")
    if isinstance(command, str):
        return command.split()
    if command is not None:
        return [str(part) for part in command]
    path = built_from(spec, root)
    return dockerfile(path, compose_build_args(spec)).cmd() if path is not None else []


def depends_on(spec: dict[str, Any]) -> dict[str, str]:
    """depends_on in either syntax, as {target: condition}."""
    raw = spec.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (cond or {}).get("condition", "service_started") for name, cond in raw.items()}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.partition("=")[::2] for item in raw)
    return {str(key): str(value) for key, value in raw.items()}


def published_ports(spec: dict[str, Any]) -> list[tuple[int, str]]:
    """(host port, protocol) of every published port, short and long syntax, with ranges."""
    found: list[tuple[int, str]] = []
    for entry in spec.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            published, protocol = str(entry["published"]), entry.get("protocol", "tcp")
        else:
            text, _, protocol = str(entry).partition("/")
            parts = text.rsplit(":", 2)
            if len(parts) == 1:
                continue  # container port only: Docker picks a free host port
            published = parts[-2]
            protocol = protocol or "tcp"
        first, _, last = published.partition("-")
        found.extend((port, protocol) for port in range(int(first), int(last or first) + 1))
    return found


def serve_target(command: list[str]) -> str | None:
    """`tide serve <service> ...` -> service."""
    if command[:2] == ["tide", "serve"] and len(command) > 2:
        return command[2]
    return None


def test_every_container_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, spec in services_of(compose).items():
        assert spec.get("image") or spec.get("build"), f"{name}: neither image nor build"


def test_every_build_dockerfile_exists(compose: dict[str, Any], root: Path) -> None:
    for name, spec in services_of(compose).items():
        path = built_from(spec, root)
        if path is not None:
            assert path.is_file(), f"{name}: {path} does not exist"


def test_every_service_package_has_an_image_and_a_container(
    compose: dict[str, Any], root: Path, tideflow_services: list[str], dockerfile: Any
) -> None:
    served = {
        serve_target(container_command(spec, root, dockerfile))
        for spec in services_of(compose).values()
    }
    built = {compose_build_args(spec).get("SERVICE") for spec in services_of(compose).values()}
    for service in tideflow_services:
        assert service in built, f"no compose container builds the image of {service}"
        assert service in served, f"no compose container runs `tide serve {service}`"


def test_env_names_are_read_by_the_settings_classes(
    compose: dict[str, Any], root: Path, dockerfile: Any, settings_of: Any, env_names: EnvNames
) -> None:
    checked = 0
    for name, spec in services_of(compose).items():
        command = container_command(spec, root, dockerfile)
        if command[:1] != ["tide"]:
            continue  # third-party image (Kafka, Postgres, ...): its own variables
        service = serve_target(command)
        classes = (settings_of(service),) if service else CLI_COMMAND_SETTINGS[tuple(command[1:])]
        valid = frozenset().union(*(env_names(cls) for cls in classes))
        for variable in environment(spec):
            if variable.startswith("TIDEFLOW_"):
                assert variable.upper() in valid, f"{name}: no settings field reads {variable}"
                checked += 1
    assert checked, "no TIDEFLOW_* variable was checked"


def test_addresses_in_env_name_containers_it_waits_for(compose: dict[str, Any]) -> None:
    services = services_of(compose)

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(depends_on(services[start]))
        while todo:
            target = todo.pop()
            if target not in seen:
                seen.add(target)
                todo.extend(depends_on(services[target]))
        return seen

    for name, spec in services.items():
        for variable, value in environment(spec).items():
            if variable not in ADDRESS_VARIABLES:
                continue
            for address in value.split(","):
                host = urlsplit(address if "://" in address else f"//{address}").hostname
                assert host in services, f"{name}: {variable} points at unknown host {host}"
                assert host in reachable(name), f"{name} uses {host} but does not wait for it"


def test_published_host_ports_do_not_collide(compose: dict[str, Any]) -> None:
    owners: dict[tuple[int, str], str] = {}
    for name, spec in services_of(compose).items():
        for port in published_ports(spec):
            assert port not in owners, f"{name} and {owners[port]} both publish {port}"
            owners[port] = name
    assert owners, "nothing is published on the host"


def test_depends_on_targets_exist_and_can_meet_their_condition(
    compose: dict[str, Any], root: Path, dockerfile: Any
) -> None:
    services = services_of(compose)
    for name, spec in services.items():
        for target, condition in depends_on(spec).items():
            assert target in services, f"{name} depends on unknown {target}"
            other = services[target]
            if condition == "service_healthy":
                path = built_from(other, root)
                if "healthcheck" in other:
                    has_check = not other["healthcheck"].get("disable", False)
                else:  # compose falls back to the image's HEALTHCHECK
                    has_check = path is not None and bool(
                        dockerfile(path, compose_build_args(other)).last_stage().all("HEALTHCHECK")
                    )
                assert has_check, f"{name} waits for {target} to be healthy; it has no check"
            elif condition == "service_completed_successfully":
                assert other.get("restart", "no") == "no", f"{target} must run once"
            else:
                assert condition == "service_started", f"{name}: unknown condition {condition}"


def test_migrate_runs_before_every_service(
    compose: dict[str, Any], root: Path, dockerfile: Any
) -> None:
    services = services_of(compose)
    migrations = [
        name
        for name, spec in services.items()
        if container_command(spec, root, dockerfile)[:3] == ["tide", "db", "migrate"]
    ]
    assert len(migrations) == 1
    for name, spec in services.items():
        if serve_target(container_command(spec, root, dockerfile)):
            assert depends_on(spec).get(migrations[0]) == "service_completed_successfully", name


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_matches_the_service(
    service: str,
    image: Any,
    settings_of: Any,
    env_names: EnvNames,
    tideflow_services: list[str],
) -> None:
    settings = settings_of(service)
    port = settings.model_fields["port"].default
    parsed = image(service)
    final = parsed.last_stage()
    assert final.all("FROM")[-1].split()[0].startswith("python:3.11.")  # the PYTHON_IMAGE arg
    assert any(a.startswith("PYTHON_IMAGE=python:3.11.") for a in parsed.all("ARG"))
    assert final.all("EXPOSE") == [str(port)]
    assert parsed.cmd() == ["tide", "serve", service, "--host", "0.0.0.0"]  # noqa: S104
    user = final.all("USER")[-1].split(":")[0]
    assert user not in {"root", "0"}, "the service must not run as root"
    (check,) = final.all("HEALTHCHECK")
    assert "/healthz" in check
    # the check follows TIDEFLOW_<SERVICE>_PORT, else the port the image was built for
    assert "TIDEFLOW_%s_PORT" in check
    assert "os.environ['TIDEFLOW_IMAGE_SERVICE'].upper()" in check
    env = parsed.env()
    assert env["TIDEFLOW_IMAGE_SERVICE"] == service
    assert env["TIDEFLOW_IMAGE_PORT"] == str(port)
    assert f"TIDEFLOW_{service.upper()}_PORT" in env_names(settings)
    # the image's own names are read by no service; every other TIDEFLOW_* by some service
    read_by_any = frozenset().union(*(env_names(settings_of(s)) for s in tideflow_services))
    for variable in (name for name in env if name.startswith("TIDEFLOW_")):
        if variable.startswith("TIDEFLOW_IMAGE_"):
            assert variable not in read_by_any, f"a settings field reads {variable}"
        else:
            assert variable in read_by_any, f"no settings field reads {variable}"
    syncs = [args for args in parsed.all("RUN") if "uv sync" in args]
    assert syncs
    for sync in syncs:
        for flag in (
            "--locked",
            "--no-dev",
            f"--package tideflow-{service}",
            "--package tideflow-cli",
        ):
            assert flag in sync, f"{service}: `{flag}` missing from `{sync}`"


def test_compose_containers_listen_where_the_settings_say(
    compose: dict[str, Any], root: Path, dockerfile: Any, settings_of: Any
) -> None:
    for name, spec in services_of(compose).items():
        service = serve_target(container_command(spec, root, dockerfile))
        if service is None:
            continue
        port = settings_of(service).model_fields["port"].default
        for entry in spec.get("ports") or []:
            target = entry["target"] if isinstance(entry, dict) else str(entry).rsplit(":", 1)[-1]
            assert int(str(target).split("/")[0]) == port, f"{name} publishes {entry}"


def test_prometheus_scrapes_every_service(
    compose: dict[str, Any], root: Path, dockerfile: Any, settings_of: Any
) -> None:
    config = yaml.safe_load((root / "deploy" / "prometheus" / "prometheus.yml").read_text())
    scraped: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for sd in job.get("dns_sd_configs", []):
            scraped |= {(host, int(sd["port"])) for host in sd["names"]}
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.partition(":")
                scraped.add((host, int(port)))
    prometheus = services_of(compose)["prometheus"]
    assert any(
        str(volume).startswith("./deploy/prometheus/prometheus.yml:")
        for volume in prometheus["volumes"]
    )
    for name, spec in services_of(compose).items():
        service = serve_target(container_command(spec, root, dockerfile))
        if service is not None:
            port = settings_of(service).model_fields["port"].default
            assert (name, port) in scraped, f"Prometheus does not scrape {name}:{port}"


def test_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    kafka = environment(services_of(compose)["kafka"])
    assert services_of(compose)["kafka"]["image"].startswith("apache/kafka:4.")
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = kafka["KAFKA_NODE_ID"]
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@")
    cluster_id = kafka["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "CLUSTER_ID is not a UUID"
    listeners = {entry.split("://")[0] for entry in kafka["KAFKA_LISTENERS"].split(",")}
    protocols = dict(
        pair.split(":") for pair in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert listeners <= set(protocols)
    assert kafka["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners


def test_grafana_provisioning_is_mounted_and_points_at_prometheus(
    compose: dict[str, Any], root: Path
) -> None:
    grafana = services_of(compose)["grafana"]
    mounts = {str(volume).split(":")[0] for volume in grafana["volumes"]}
    assert "./deploy/grafana/provisioning" in mounts
    sources = root / "deploy" / "grafana" / "provisioning" / "datasources"
    (datasource,) = yaml.safe_load((sources / "prometheus.yml").read_text())["datasources"]
    assert urlsplit(datasource["url"]).hostname in services_of(compose)
