"""The bus's modules stay layered: adapters implement `ConsumerDriver`, strategies use it.

Statically checked, TYPE_CHECKING imports included: no import cycle between the bus's
modules (the strategies once imported `_port` while `_port` imported them), the
consumption strategies never see `Consumer` or the adapters, and nothing reaches into
another class's privates (`noqa: SLF001` was the sign of a missing interface).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tideflow.bus import ConsumerDriver, InMemoryBus, KafkaBus

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tideflow" / "bus"
STRATEGIES = ("_batch_loop", "_pipeline")


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("_*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["tideflow", "bus"] and len(parts) > 2:
                    found.add(parts[2])
        graph[path.stem] = found & {p.stem for p in PACKAGE.glob("_*.py")}
    return graph


def test_no_import_cycle_between_the_bus_modules() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_use_only_the_driver(strategy: str) -> None:
    assert not _imports()[strategy] & {"_port", "_kafka", "_memory"}


def test_nothing_reaches_into_privates() -> None:
    offenders = [p.name for p in PACKAGE.glob("*.py") if "SLF001" in p.read_text()]
    assert offenders == []


def test_both_buses_hand_out_drivers() -> None:
    memory = InMemoryBus().consumer(["t"], group="g")
    kafka = KafkaBus(bootstrap_servers="127.0.0.1:9").consumer(["t"], group="g")
    assert isinstance(memory, ConsumerDriver)
    assert isinstance(kafka, ConsumerDriver)
