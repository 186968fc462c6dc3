"""Connector files -> node types: the shipped ones, then `TIDEFLOW_CONNECTORS_PATH`.

A file that does not parse or describes an invalid connector is skipped: the registry
logs it in one line and lists it among the failures (`GET /node-types`), and the other
connectors still load. Two files naming the same connector: the first one wins.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tideflow.connectors._auth import TokenCache
from tideflow.connectors._model import Connector
from tideflow.connectors._operation import operation_specs
from tideflow.core import load_yaml
from tideflow.plugins import NodeTypeSpec, NotDeclared

log = logging.getLogger(__name__)


def _path_from_env() -> str:
    return os.environ.get("TIDEFLOW_CONNECTORS_PATH", "")


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """`TIDEFLOW_CONNECTORS_PATH`: folders (`:`-separated) of more connector files.

    A plain dataclass, not a pydantic-settings class: connectors load wherever workflows
    are validated, also offline in the CLI, which must not pay for the settings stack.
    """

    path: str = field(default_factory=_path_from_env)

    def folders(self) -> list[Path]:
        return [Path(p) for p in self.path.split(":") if p]


class ConnectorError(ValueError):
    """A connector file that cannot be used; the message says which and why (one line)."""


def load_connector(text: str, *, source: str) -> Connector:
    """A connector from YAML text; ConnectorError naming `source` when it is not one."""
    try:
        raw: Any = load_yaml(text)  # the definitions' loader: aliases on a budget
    except yaml.YAMLError as e:
        raise ConnectorError(f"{source}: not YAML: {' '.join(str(e).split())}") from e
    except RecursionError:  # the parser recurses per level of nesting
        raise ConnectorError(f"{source}: not readable: nested too deeply") from None
    try:
        return Connector.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConnectorError(
            f"{source}: {where}: {first['msg']}"
            + (f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else "")
        ) from e


def shipped_files() -> list[tuple[str, str]]:
    """(name, text) of the connectors in this package (`specs/*.yaml`)."""
    folder = resources.files("tideflow.connectors") / "specs"
    return sorted(
        (item.name, item.read_text(encoding="utf-8"))
        for item in folder.iterdir()
        if item.name.endswith((".yaml", ".yml"))
    )


def connector_files(settings: ConnectorSettings) -> list[tuple[str, str | ConnectorError]]:
    """(source, text) of every connector file; a file that cannot be read (not UTF-8, a
    folder named `x.yaml`, no permission) carries its error instead, so it alone is
    skipped."""
    files: list[tuple[str, str | ConnectorError]] = list(shipped_files())
    for folder in settings.folders():
        if not folder.is_dir():
            log.error("TIDEFLOW_CONNECTORS_PATH: %s is not a folder", folder)
            continue
        files += [
            (str(path), _read(path))
            for path in sorted(folder.iterdir())
            if path.suffix in {".yaml", ".yml"}
        ]
    return files


def _read(path: Path) -> str | ConnectorError:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return ConnectorError(f"{path}: cannot be read: {type(e).__name__}: {e}")


def node_types(settings: ConnectorSettings | None = None) -> list[NodeTypeSpec | NotDeclared]:
    """Every operation of every readable connector, as node types (the entry point); an
    unreadable file is a `NotDeclared` the registry reports."""
    tokens = TokenCache()  # one OAuth2 token cache for all connectors of the process
    specs: list[NodeTypeSpec | NotDeclared] = []
    seen: set[str] = set()
    for source, text in connector_files(settings or ConnectorSettings()):
        try:
            if isinstance(text, ConnectorError):
                raise text
            connector = load_connector(text, source=source)
        except ConnectorError as e:
            specs.append(NotDeclared(f"connector {Path(source).name}", str(e)))
            continue
        if connector.name in seen:
            specs.append(NotDeclared(connector.name, f"{source}: connector already defined"))
            continue
        seen.add(connector.name)
        specs += operation_specs(connector, tokens)
    return specs
