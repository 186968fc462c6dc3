"""Expressions that read only `input`, checked against the types `spec.input` declares.

CEL has no implicit conversions, so `'total=' + input.x` with a numeric `x` compiles and
then fails on every run. When a workflow declares its input schema, validation evaluates
each expression that reads nothing but `input` on values of the declared types; one that
fails with a type error (no matching overload, a field of a non-map) for every shape
the schema allows is reported before the definition is stored. Missing keys and other
value-dependent failures are not reported: the sample values are not the real ones.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from tideflow.core._cel import Scope, compile_expression, evaluate_expression, root_identifiers
from tideflow.core._errors import ExpressionError, Problem, ProblemCode
from tideflow.core._templates import iter_expressions

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tideflow.core._definition import NodeSpec
    from tideflow.core.nodes import NodeTypes

_TYPE_ERRORS = ("No matching overloads", "non-message type")
_UNKNOWN = object()


def _sample(schema: Any, *, doubles: bool) -> Any:
    """A value of the schema's declared type, or _UNKNOWN when it does not declare one."""
    if not isinstance(schema, dict):
        return _UNKNOWN
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if len(concrete) == 1 else None
    if kind is None and "properties" in schema:
        kind = "object"
    return _of_kind(kind, schema, doubles=doubles)


def _of_kind(kind: Any, schema: dict[str, Any], *, doubles: bool) -> Any:
    simple = {"string": "text", "integer": 2, "number": 2.5 if doubles else 2, "boolean": True}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        item = _sample(schema.get("items"), doubles=doubles)
        return [] if item is _UNKNOWN else [item]
    if kind != "object":
        return _UNKNOWN
    properties = schema.get("properties")
    values = properties.items() if isinstance(properties, dict) else []
    samples = {key: _sample(value, doubles=doubles) for key, value in values}
    return {key: value for key, value in samples.items() if value is not _UNKNOWN}


def input_samples(schema: Any) -> list[Any]:
    """Inputs shaped like the schema: JSON numbers as integers, and as doubles."""
    samples = [_sample(schema, doubles=False), _sample(schema, doubles=True)]
    return [s for s in samples if s is not _UNKNOWN]


def type_error(source: str, scope: Scope, samples: list[Any]) -> str | None:
    """Why `source` fails on every sample input with a type error, or None."""
    try:
        roots = root_identifiers(source)
        compile_expression(source, scope)
    except ExpressionError:
        return None  # reported by the syntax checks
    if not samples or roots != {"input"}:
        return None
    reasons = []
    for sample in samples:
        try:
            evaluate_expression(source, {"input": sample}, scope)
        except ExpressionError as e:
            if not any(marker in e.reason for marker in _TYPE_ERRORS):
                return None
            reasons.append(e.reason.split(": ", 1)[-1])
        else:
            return None
    return reasons[0]


def _sites(index: int, node: NodeSpec, types: NodeTypes) -> Iterator[tuple[str, str, Scope]]:
    path = f"spec.nodes[{index}]"
    node_type = types.get(node.type)
    if node_type is not None:
        with contextlib.suppress(ExpressionError):
            for site in node_type.expression_sites(node.config):
                where = ".".join(str(p) for p in site.path)
                yield f"{path}.config.{where}", site.source, site.scope
    if node.idempotency_key is not None:
        with contextlib.suppress(ExpressionError):
            for _, source, _whole in iter_expressions(node.idempotency_key):
                yield f"{path}.idempotencyKey", source, Scope.RUN


def _spec_sites(spec: dict[str, Any]) -> Iterator[tuple[str, str, Scope]]:
    for key in ("vars", "output"):
        with contextlib.suppress(ExpressionError):
            for sub, source, _whole in iter_expressions(spec.get(key)):
                suffix = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in sub)
                yield f"spec.{key}{suffix}", source, Scope.RUN


def input_type_problems(
    nodes: list[tuple[int, NodeSpec]], spec: dict[str, Any], types: NodeTypes
) -> list[Problem]:
    """INVALID_EXPRESSION for every input-only expression the input schema makes fail."""
    samples = input_samples(spec.get("input"))
    if not samples:
        return []
    sites = [site for index, node in nodes for site in _sites(index, node, types)]
    problems = []
    for path, source, scope in [*sites, *_spec_sites(spec)]:
        reason = type_error(source, scope, samples)
        if reason is not None:
            problems.append(
                Problem(
                    ProblemCode.INVALID_EXPRESSION,
                    f"{source!r} fails for every input spec.input allows: {reason} (CEL does "
                    "not convert types: use string(), int() or double())",
                    path,
                )
            )
    return problems
