"""The layer rules of docs/architecture.md, checked on every import statement.

core (pure) <- adapters (store, bus, infra, settings, sdk, ...) <- services <- cli.
The core must not reach for IO, and no service may import another service: they talk over
Kafka and HTTP only. We parse imports with `ast` instead of importing modules, so the check
also covers imports inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

IO_MODULES = {
    "asyncio",
    "asyncpg",
    "aiokafka",
    "faststream",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "aiohttp",
    "redis",
    "socket",
    "subprocess",
    "psycopg",
    "psycopg2",
    "boto3",
    "aioboto3",
    "litellm",
    "kopf",
    "kubernetes",
    "sqlalchemy",
    "urllib",
    "http",
    "threading",
    "multiprocessing",
    "selectors",
    "ssl",
    "shutil",
    "tempfile",
    "pathlib",
    "io",
    "os",
    "time",
}
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py")) if folder.is_dir() else []


def violations(files: list[Path], forbidden: set[str], root: Path = ROOT) -> list[str]:
    """`<file> imports <module>` for every import of a forbidden module (or a submodule)."""
    return [
        f"{path.relative_to(root)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]


def test_core_is_pure() -> None:
    forbidden = IO_MODULES | {
        f"tideflow.{name}" for name in ["store", "bus", "infra", "settings", "telemetry"]
    }
    forbidden |= {"opentelemetry", "prometheus_client"}  # observability is the adapters' job
    forbidden |= {f"tideflow.{s}" for s in SERVICES}
    files = sources(ROOT / "libs/core/src")
    assert violations(files, forbidden) == []


@pytest.mark.parametrize("service", SERVICES)
def test_services_do_not_import_each_other(service: str) -> None:
    others = {f"tideflow.{s}" for s in SERVICES if s != service}
    assert violations(sources(ROOT / "services" / service / "src"), others) == []


def test_libs_do_not_import_services_or_cli() -> None:
    forbidden = {f"tideflow.{s}" for s in SERVICES} | {"tideflow.cli"}
    files = [path for src in sorted(ROOT.glob("libs/*/src")) for path in sources(src)]
    assert files
    assert violations(files, forbidden) == []


def test_the_contract_depends_on_nothing() -> None:
    """tideflow.contract is what the client and the services share: nothing else comes with it.

    The client is installed on its own (httpx and pydantic); a contract that imported the
    store or a service would drag them into every program that talks to the API.
    """
    files = sources(ROOT / "libs/contract/src")
    assert files
    imported = {module for path in files for module in imported_modules(path)}
    others = {m for m in imported if m.startswith("tideflow.")} - {"tideflow.contract"}
    others = {m for m in others if not m.startswith("tideflow.contract.")}
    assert others == set()
    assert violations(files, IO_MODULES) == []
    project = (ROOT / "libs/contract/pyproject.toml").read_text()
    assert "dependencies = []" in project


def test_the_check_catches_a_crossing(tmp_path: Path) -> None:
    """Guards the guard: imports hidden inside functions must be reported too."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import asyncpg\n    from tideflow.gateway import app\n")
    found = violations([bad], {"asyncpg", "tideflow.gateway"}, root=tmp_path)
    assert found == ["bad.py imports asyncpg", "bad.py imports tideflow.gateway"]
