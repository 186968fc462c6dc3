"""Every service image is slim, pinned, unprivileged and checks its own health.

One Dockerfile at the repository root builds them all (build args choose the service). No
Docker engine runs here, so it is parsed, as built for each service, and held to the rules a review
would apply: multi-stage with a runtime stage that carries no build tools, every base
image pinned to an exact release (or a digest), the runtime's Python the project's, a
numeric non-root USER (so Kubernetes' runAsNonRoot can verify it) matching the chart's
securityContext, a HEALTHCHECK on /healthz, no remote ADD, and a .dockerignore that keeps
local environments and secrets out of the build context.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .chart import CHART
from .images import IMAGE_DOCKERFILE, compose_build_args, service_image

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in ROOT.glob("services/*/src"))
# name:tag with a full version (1.2.3, optionally -variant), or name@sha256:digest
PINNED = re.compile(
    r"^[\w./-]+(:\d+\.\d+\.\d+(-[\w.-]+)?(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)


def resolve(reference: str, arguments: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: arguments[m.group(1) or m.group(2)], reference)


def stages(parsed: Any) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(base image, stage name, instructions) per stage, ARG defaults resolved."""
    arguments: dict[str, str] = {}
    found: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for keyword, args in parsed.instructions:
        if keyword == "ARG" and not found:
            name, _, default = args.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append((resolve(words[0], arguments), name, []))
        elif found:
            found[-1][2].append((keyword, args))
    return found


def test_one_dockerfile_builds_every_service() -> None:
    """No per-service copies: the service is a build arg of the one Dockerfile."""
    assert IMAGE_DOCKERFILE.is_file()
    assert not sorted(ROOT.glob("services/*/Dockerfile")), "a per-service Dockerfile is back"
    for service in SERVICES:
        assert service_image(service).env()["TIDEFLOW_IMAGE_SERVICE"] == service


def test_a_build_without_a_service_fails_with_a_message(dockerfile: Any) -> None:
    """SERVICE and PORT have no defaults: a bare `docker build .` stops with a hint."""
    parsed = dockerfile(IMAGE_DOCKERFILE)
    declared = {args.partition("=")[0]: args for args in parsed.all("ARG")}
    assert declared["SERVICE"] == "SERVICE"
    assert declared["PORT"] == "PORT"
    runs = " ".join(parsed.all("RUN"))
    assert 'test -f "services/${SERVICE}/pyproject.toml"' in runs
    assert "--build-arg SERVICE=" in runs
    assert "--build-arg PORT=" in runs


def test_only_the_gateway_builds_the_web_ui(compose: dict[str, Any]) -> None:
    """The Node stage is reached through UI=web only; the other images never build it."""
    for name, spec in compose["services"].items():
        args = compose_build_args(spec)
        if "SERVICE" in args:
            wanted = "web" if args["SERVICE"] == "gateway" else "none"
            assert args.get("UI", "none") == wanted, name
    for service in SERVICES:
        found = stages(service_image(service))
        ui = next(base for base, name, _ in found if name == "ui")
        assert ui == ("ui-web" if service == "gateway" else "ui-none"), service


@pytest.mark.parametrize("service", SERVICES)
def test_bases_are_pinned_and_the_runtime_is_slim(service: str) -> None:
    parsed = service_image(service)
    found = stages(parsed)
    assert len(found) >= 2, "multi-stage: build tools stay out of the runtime image"
    names = {name for _, name, _ in found if name}
    for base, name, _ in found:
        if base not in names and base != "scratch":
            assert PINNED.match(base), f"stage {name}: base {base} is not pinned to a release"
    runtime_base, _, runtime = found[-1]
    python = (ROOT / ".python-version").read_text().strip()
    assert runtime_base.startswith(f"python:{python}."), runtime_base
    assert "slim" in runtime_base
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert copies, "the runtime stage copies the built environment"
    assert all(args.startswith("--from=build") for args in copies), copies
    assert not [args for keyword, args in runtime if keyword == "RUN" and "uv " in args]
    for keyword, args in parsed.instructions:
        assert not (keyword == "ADD" and "://" in args), "ADD of a URL: fetch in a RUN and verify"


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_the_chart_user_and_checks_its_health(service: str) -> None:
    final = service_image(service).last_stage()
    user = final.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric user, so runAsNonRoot can verify it"
    assert gid.isdigit()
    assert int(uid) != 0
    assert int(gid) != 0
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    context = values["podSecurityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
    (check,) = final.all("HEALTHCHECK")
    assert "/healthz" in check
    assert "--interval=" in check
    assert "--timeout=" in check


def test_compose_and_the_chart_run_the_same_images(compose: dict[str, Any]) -> None:
    """Compose tags what it builds with the names and version the chart runs by default."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    version = chart["appVersion"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    prefix = values["image"]["repositoryPrefix"]
    assert values["image"]["registry"] == ""
    assert not values["image"]["tag"], "the chart's default tag is its appVersion"
    built = set()
    for name, spec in compose["services"].items():
        if spec.get("build") is None:
            continue
        assert spec["build"].get("dockerfile") == "Dockerfile", name
        service = compose_build_args(spec)["SERVICE"]
        assert spec["image"] == f"{prefix}{service}:{version}", name
        built.add(service)
    assert built == set(SERVICES)
    for service in SERVICES:
        project = (ROOT / "services" / service / "pyproject.toml").read_text()
        assert f'version = "{version}"' in project, f"{service}: not version {version}"


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".tools", ".tideflow", "**/node_modules"} <= ignored
