"""The GitHub workflow runs what `.ci/run` runs, against the same kind of infrastructure.

scripts/test.sh is the definition of "the tests pass"; CI swaps only `tide infra up` for
service containers. These checks keep the two from drifting apart: a command added to
test.sh but not to CI, or a TIDEFLOW_* variable CI sets that nothing reads.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tideflow.infra import Infra
from tideflow.settings import InfraSettings

pytestmark = pytest.mark.unit

# Shell plumbing in test.sh that is not a step of its own.
PLUMBING = {"set", "export", "cd", "echo", "trap", "eval"}


@pytest.fixture(scope="module")
def workflow(root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((root / ".github" / "workflows" / "ci.yml").read_text()))


@pytest.fixture(scope="module")
def job(workflow: dict[str, Any]) -> dict[str, Any]:
    """The job that runs the tests."""
    (test_job,) = [
        spec
        for spec in workflow["jobs"].values()
        if any(line.split()[0] == "pytest" for step in spec["steps"] for line in run_lines(step))
    ]
    return dict(test_job)


def run_lines(step: dict[str, Any]) -> list[str]:
    return [line.strip() for line in str(step.get("run", "")).splitlines() if line.strip()]


def script_commands(root: Path) -> list[str]:
    """The commands scripts/test.sh runs, in order, without shell plumbing."""
    commands: list[str] = []
    for raw in (root / "scripts" / "test.sh").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = [word for word in shlex.split(line) if word != "$@"]
        if words[0] not in PLUMBING:
            commands.append(shlex.join(words))
    return commands


def test_runs_on_push_and_pull_request(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)


def test_steps_run_the_commands_of_the_test_script(root: Path, job: dict[str, Any]) -> None:
    expected = [cmd for cmd in script_commands(root) if not cmd.startswith("tide infra")]
    assert {"ruff check .", "ruff format --check .", "mypy"} <= set(expected)
    assert any(command.split()[0] == "pytest" for command in expected)
    lines = [line for step in job["steps"] for line in run_lines(step)]
    position = 0
    for command in expected:
        assert command in lines[position:], f"CI does not run `{command}` (in test.sh order)"
        position = lines.index(command, position) + 1


def test_infra_comes_from_service_containers(root: Path, job: dict[str, Any]) -> None:
    commands = script_commands(root)
    assert "tide infra up" in commands, "test.sh no longer starts infra: revisit this workflow"
    services = job["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    kafka = services["kafka"]["env"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for spec in services.values():
        assert "--health-cmd" in spec["options"], "the job must wait until the service is ready"


def test_env_is_what_tide_infra_env_prints(
    job: dict[str, Any],
    tmp_path: Path,
    tideflow_services: list[str],
    settings_of: Callable[[str], type[BaseSettings]],
    env_names: Callable[[type[BaseModel]], frozenset[str]],
) -> None:
    infra = Infra(settings=InfraSettings(home=tmp_path / "infra", cache=tmp_path / "cache"))
    printed = {name for component in infra.components.values() for name in component.env()}
    tideflow_env = {name for name in job["env"] if name.startswith("TIDEFLOW_")}
    assert tideflow_env == printed
    valid = frozenset().union(*(env_names(settings_of(s)) for s in tideflow_services))
    assert tideflow_env <= valid


def test_env_points_at_the_published_ports(job: dict[str, Any]) -> None:
    env, services = job["env"], job["services"]

    def published(service: str) -> set[int]:
        return {int(str(entry).split(":")[0]) for entry in services[service]["ports"]}

    database = urlsplit(env["TIDEFLOW_DATABASE_URL"])
    postgres = services["postgres"]["env"]
    assert database.port in published("postgres")
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert urlsplit(env["TIDEFLOW_REDIS_URL"]).port in published("redis")
    kafka_port = int(env["TIDEFLOW_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    assert kafka_port in published("kafka")
    advertised = services["kafka"]["env"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"localhost:{kafka_port}" in advertised, "the runner must reach what Kafka advertises"


def test_python_and_uv_cache(job: dict[str, Any]) -> None:
    uses = {step["uses"].split("@")[0]: step for step in job["steps"] if "uses" in step}
    assert str(uses["actions/setup-python"]["with"]["python-version"]) == "3.11"
    assert uses["astral-sh/setup-uv"]["with"]["enable-cache"] is True
