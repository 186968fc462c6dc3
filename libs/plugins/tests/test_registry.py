"""The node-type registry: entry points found, bad plugins reported in one line, never fatal."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib.metadata import EntryPoint

import pytest

from tideflow.core import BUILTIN_NODE_TYPES, Execution, ProblemCode, validate_definition
from tideflow.core.testing import LocalRun
from tideflow.plugins import NodeTypeSpec, Runs, load_registry

pytestmark = pytest.mark.unit

MODULE = "bad_plugins" if __package__ in {None, ""} else f"{__package__}.bad_plugins"


def point(name: str, attr: str, module: str = "") -> EntryPoint:
    return EntryPoint(name, f"{module or MODULE}:{attr}", "tideflow.node_types")


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    import pathlib
    import sys

    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent))
    sys.modules.pop("bad_plugins", None)


def test_builtins_only_without_entry_points() -> None:
    registry = load_registry(points=[])
    assert set(registry.types) == set(BUILTIN_NODE_TYPES)
    assert registry.failures == ()


def test_good_and_bad_entry_points(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="tideflow.plugins")
    registry = load_registry(
        points=[
            point("good", "factory", "bad_plugins"),
            point("missing_module", "X", "no_such_plugin_module"),
            point("missing_attr", "NOPE", "bad_plugins"),
            point("not_a_spec", "NOT_A_SPEC", "bad_plugins"),
            point("bad_schema", "BAD_SCHEMA", "bad_plugins"),
            point("bad_name", "BAD_NAME", "bad_plugins"),
            point("taken", "TAKEN", "bad_plugins"),
            point("factory_fails", "failing_factory", "bad_plugins"),
            point("twice", "UPPER", "bad_plugins"),
        ]
    )
    assert {"t.upper", "t.crash"} <= set(registry.types)
    assert registry.types["t.upper"].execution is Execution.INLINE
    failures = {f.entry_point.split(" = ")[0]: f for f in registry.failures}
    assert set(failures) == {
        "missing_module", "missing_attr", "not_a_spec", "bad_schema", "bad_name", "taken",
        "factory_fails", "twice",
    }  # fmt: skip
    assert "ModuleNotFoundError" in failures["missing_module"].error
    assert "AttributeError" in failures["missing_attr"].error
    assert "expected a NodeTypeSpec" in failures["not_a_spec"].error
    assert "schema is invalid" in failures["bad_schema"].error
    assert "must match" in failures["bad_name"].error
    assert "already exists" in failures["taken"].error
    assert failures["twice"].node_type == "t.upper"
    assert "the factory broke" in failures["factory_fails"].error
    # one line per failure in the log, naming the entry point
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == len(registry.failures)
    assert all("\n" not in line for line in lines)
    assert any("missing_module" in line for line in lines)


def test_specs_that_break_only_when_used_are_refused_at_load() -> None:
    """A name that is not a string used to raise out of load_registry (the service did not
    start); a model with an unresolved forward reference or a schema whose $ref points
    nowhere loaded, then made every validation of a workflow using the type raise (500)."""
    registry = load_registry(
        points=[
            point(name, name.upper())
            for name in ("list_name", "unfinished_model", "broken_ref", "broken_output_ref",
                         "both_schemas", "good_ref")
        ]
    )  # fmt: skip
    failures = {f.entry_point.split(" = ")[0]: f.error for f in registry.failures}
    assert set(failures) == {
        "list_name", "unfinished_model", "broken_ref", "broken_output_ref", "both_schemas"
    }  # fmt: skip
    assert "must be a string" in failures["list_name"]
    assert "config model is unusable" in failures["unfinished_model"]
    assert "'#/$defs/txet' resolves to nothing" in failures["broken_ref"]
    assert "output schema is invalid: $ref 'other.json'" in failures["broken_output_ref"]
    assert "both" in failures["both_schemas"]
    problems = validate_definition(definition("t.good_ref", {"text": 5}), registry.types)
    assert [p.code for p in problems] == [ProblemCode.INVALID_CONFIG]


def definition(node_type: str, config: object) -> dict[str, object]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"nodes": [{"id": "step_one", "type": node_type, "config": config}]},
    }  # fmt: skip


def test_validator_checks_plugin_config_and_names_the_node() -> None:
    types = load_registry(points=[point("good", "factory", "bad_plugins")]).types
    problems = validate_definition(definition("t.upper", {"text": 5, "extra": 1}), types)
    assert [p.code for p in problems] == [ProblemCode.INVALID_CONFIG]
    assert problems[0].node == "step_one"
    assert "step_one" in problems[0].message
    assert problems[0].path == "spec.nodes[0].config.text"
    missing = validate_definition(definition("t.upper", {}), types)
    assert "'text' is a required property" in missing[0].message
    # a template stands for a value known only at run time
    assert validate_definition(definition("t.upper", {"text": "{{ input.n }}"}), types) == []
    # without the plugin, the type is unknown (and the message names the node)
    unknown = validate_definition(definition("t.upper", {"text": "x"}))
    assert unknown[0].code == ProblemCode.UNKNOWN_NODE_TYPE
    assert "step_one" in unknown[0].message


@pytest.mark.parametrize(
    ("node_type", "error_type", "message"),
    [
        ("t.crash", "RuntimeError", "cannot handle boom"),
        ("t.wrong", "OutputInvalid", "output does not match its schema"),
    ],
)
def test_inline_plugin_failures_fail_the_step_not_the_scheduler(
    node_type: str, error_type: str, message: str
) -> None:
    types = load_registry(
        points=[point("good", "factory", "bad_plugins"), point("w", "WRONG", "bad_plugins")]
    ).types
    run = LocalRun(definition(node_type, {"text": "{{ input.t }}"}), types=types)
    run.start({"t": "boom"})
    assert run.state.status == "failed"
    error = run.state.steps["step_one"].error
    assert error is not None
    assert error.type == error_type
    assert message in error.message
    assert not error.retryable


def test_inline_plugin_output_lands_in_the_run() -> None:
    types = load_registry(points=[point("good", "factory", "bad_plugins")]).types
    run = LocalRun(definition("t.upper", {"text": "{{ input.t }}"}), types=types)
    run.start({"t": "abc"})
    assert run.state.status == "succeeded"
    assert run.state.steps["step_one"].output == {"text": "ABC"}


def _deep(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("output", "error_type"),
    [(float("nan"), "NonFiniteNumber"), ({"text": "a\x00b"}, "NulCharacter"),
     (_deep(65), "ValueTooDeep"),
     ({1, 2}, "NotJson")],
)  # fmt: skip
def test_an_inline_plugin_output_the_log_cannot_hold_fails_the_step(
    output: object, error_type: str
) -> None:
    """NaN, a NUL (Postgres refuses the whole batch) or 65 levels used to be recorded as
    the step's output."""
    spec = NodeTypeSpec(
        name="t.returns", runs=Runs.INLINE, handler=lambda _config: output,
        config_schema={"type": "object"},
    )  # fmt: skip
    types = load_registry(points=[], extra=[(spec, "test")]).types
    run = LocalRun(definition("t.returns", {}), types=types)
    run.start({})
    error = run.state.steps["step_one"].error
    assert error is not None
    assert (error.type, error.retryable) == (error_type, False)


def test_an_inline_plugin_output_is_recorded_as_the_log_holds_it() -> None:
    """A tuple or a datetime in the decided state, a list or a string once folded."""
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    spec = NodeTypeSpec(
        name="t.returns", runs=Runs.INLINE, handler=lambda _config: {"at": stamp, "pair": (1, 2)},
        config_schema={"type": "object"},
    )  # fmt: skip
    types = load_registry(points=[], extra=[(spec, "test")]).types
    run = LocalRun(definition("t.returns", {}), types=types)
    run.start({})
    assert run.state.steps["step_one"].output == {"at": "2026-01-02T03:04:05+00:00", "pair": [1, 2]}
