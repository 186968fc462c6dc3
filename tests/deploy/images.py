"""The Dockerfile as the deployment checks read it: no Docker engine runs here.

One Dockerfile at the repository root builds every service's image, chosen by build args
(`SERVICE`, `PORT`, `UI`); docker-compose.yml passes each service its args, so the image of
a service is that file parsed with those args substituted.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Mapping

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile that the checks look at."""

    path: Path
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last_stage(self) -> Dockerfile:
        """Only the final stage: what the image that runs actually contains."""
        starts = [i for i, (kw, _) in enumerate(self.instructions) if kw == "FROM"]
        return Dockerfile(self.path, self.instructions[starts[-1] :] if starts else [])

    def cmd(self) -> list[str]:
        """The final CMD, exec form (JSON) or shell form (as its shell runs it: the image's
        ENV expanded, a leading `exec` dropped)."""
        commands = self.last_stage().all("CMD")
        assert commands, f"{self.path} has no CMD"
        raw = commands[-1]
        if raw.startswith("["):
            return list(json.loads(raw))
        words = shlex.split(expand(raw, self.env()))
        return words[1:] if words[:1] == ["exec"] else words

    def env(self) -> dict[str, str]:
        """ENV of the final stage, `KEY=value ...` form."""
        variables: dict[str, str] = {}
        for args in self.last_stage().all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                variables[key] = value
        return variables


def expand(text: str, variables: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced for the names in `variables` (others stay)."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: variables.get(m.group(1) or m.group(2), m.group(0)),
        text,
    )


def parse_dockerfile(path: Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Instructions with their line continuations joined and comments dropped.

    With `build_args`, the image built with them: every `ARG` (its default, or the value
    passed) is substituted where it is used, as `docker build --build-arg` would.
    """
    parsed = _parse(path)
    if build_args is None:
        return parsed
    values: dict[str, str] = {}
    for args in parsed.all("ARG"):
        name, _, default = args.partition("=")
        values.setdefault(name, default)
    unknown = set(build_args) - set(values)
    assert not unknown, f"{path} declares no ARG {sorted(unknown)}"
    values.update(build_args)
    parsed.instructions = [(kw, expand(args, values)) for kw, args in parsed.instructions]
    return parsed


def _parse(path: Path) -> Dockerfile:
    parsed = Dockerfile(path)
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        parsed.instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path} ends inside a line continuation"
    return parsed


IMAGE_DOCKERFILE = ROOT / "Dockerfile"


def compose_build_args(spec: Mapping[str, Any]) -> dict[str, str]:
    """The build args of a compose container (`build.args`, mapping or list form)."""
    build = spec.get("build")
    raw = build.get("args") if isinstance(build, dict) else None
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(k): str(v) for k, v in (raw or {}).items()}


def service_image(service: str) -> Dockerfile:
    """The image of a service: the one Dockerfile with the build args compose passes it."""
    specs = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"].values()
    args = [
        compose_build_args(spec)
        for spec in specs
        if compose_build_args(spec).get("SERVICE") == service
    ]
    assert args, f"no compose container builds the image of {service}"
    assert all(a == args[0] for a in args), f"{service} is built with different args: {args}"
    return parse_dockerfile(IMAGE_DOCKERFILE, args[0])
