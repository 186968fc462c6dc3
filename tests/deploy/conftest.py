"""What the deployment tests share: the parsed files, and the env names settings classes read.

The valid TIDEFLOW_* names are derived from the settings classes themselves (env prefix,
field names, validation aliases, nested settings with their own prefix), so renaming a
field breaks these tests instead of silently breaking a container's configuration.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from pydantic import AliasChoices, AliasPath, BaseModel
from pydantic_settings import BaseSettings

from .images import Dockerfile, parse_dockerfile, service_image

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]


def _alias_names(alias: object) -> set[str]:
    if isinstance(alias, str):
        return {alias}
    if isinstance(alias, AliasChoices):
        return {name for choice in alias.choices for name in _alias_names(choice)}
    if isinstance(alias, AliasPath) and isinstance(alias.path[0], str):
        return {alias.path[0]}
    return set()


def settings_env_names(cls: type[BaseModel], prefix: str | None = None) -> frozenset[str]:
    """Every environment variable `cls()` reads, upper-cased (pydantic-settings ignores case).

    A field with a validation alias is read under the alias only (no prefix); a nested
    BaseSettings built by its default factory reads its own prefix; with an
    env_nested_delimiter, nested model fields are also read as PREFIX_FIELD<delim>SUB.
    """
    config: Any = cls.model_config
    if prefix is None:
        prefix = config.get("env_prefix", "") if issubclass(cls, BaseSettings) else ""
    delimiter = config.get("env_nested_delimiter") if issubclass(cls, BaseSettings) else None
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        aliases = _alias_names(info.validation_alias) or _alias_names(info.alias)
        own = aliases or {f"{prefix}{name}"}
        names |= own
        annotation = info.annotation
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            if issubclass(annotation, BaseSettings) and info.default_factory is not None:
                names |= settings_env_names(annotation)
            if delimiter:
                for outer in own:
                    names |= settings_env_names(annotation, prefix=f"{outer}{delimiter}")
    return frozenset(name.upper() for name in names)


def service_settings_class(service: str) -> type[BaseSettings]:
    """The root BaseSettings of `tideflow.<service>.settings`.

    A service's settings may be composed of sub-settings defined beside it; the root is the
    one class of the module that no other class of the module holds as a field.
    """
    module = importlib.import_module(f"tideflow.{service}.settings")
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseSettings)
        and obj.__module__ == module.__name__
    ]
    held = {
        info.annotation
        for cls in classes
        for info in cls.model_fields.values()
        if inspect.isclass(info.annotation)
    }
    roots = [cls for cls in classes if cls not in held]
    assert len(roots) == 1, f"{module.__name__} has {len(roots)} root settings classes"
    return roots[0]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose reads it (anchors and merge keys resolved)."""
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


@pytest.fixture(scope="session")
def tideflow_services() -> list[str]:
    """Every service package in the workspace (services/<name>/src/tideflow/<name>)."""
    return sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())


@pytest.fixture(scope="session")
def env_names() -> Callable[[type[BaseModel]], frozenset[str]]:
    return settings_env_names


@pytest.fixture(scope="session")
def settings_of() -> Callable[[str], type[BaseSettings]]:
    return service_settings_class


@pytest.fixture(scope="session")
def dockerfile() -> Callable[..., Dockerfile]:
    return parse_dockerfile


@pytest.fixture(scope="session")
def image() -> Callable[[str], Dockerfile]:
    """`image(service)`: the parsed Dockerfile as built for that service."""
    return service_image


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every chart scenario of tests/deploy/chart.py rendered once for the session."""
    from .chart import SCENARIOS, render

    return {
        name: render(tmp_path_factory.mktemp(name), values) for name, values in SCENARIOS.items()
    }
