"""A catalog of node types: the built-ins plus whatever a process was given (plugins).

The core keeps no registry of its own beyond the built-in table: whoever validates or
decides passes a `NodeTypes` (the gateway, the scheduler and the executor build one at
start from the `tideflow.node_types` entry points, see `tideflow.plugins`). A catalog is
immutable; `extended` makes a new one. Plugin types are either `INLINE` (a pure function
of the rendered config, evaluated inside `decide`) or `DISPATCH` (run by a worker).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from tideflow.core._errors import ExpressionError, InlineNodeError
from tideflow.core._json_schema import SafeValidator, schema_problem
from tideflow.core._templates import render
from tideflow.core.nodes._base import Execution, InlineEvaluator, InlineOutcome, NodeType

TYPE_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
"""A type name: snake_case words, dotted for namespaces (`github.create_issue`)."""
_TYPE_NAME = re.compile(TYPE_NAME_PATTERN)
PLUGIN_EXECUTIONS = frozenset({Execution.INLINE, Execution.DISPATCH})
"""Where a type declared outside the core may run: inline in the scheduler, or a worker."""


class NodeTypes(Mapping[str, NodeType]):
    """name -> node type; immutable, hashable by identity, cheap to pass around."""

    __slots__ = ("_types",)

    def __init__(self, types: Iterable[NodeType]) -> None:
        table: dict[str, NodeType] = {}
        for node_type in types:
            if node_type.name in table:
                raise ValueError(f"node type {node_type.name!r} is declared twice")
            table[node_type.name] = node_type
        self._types = table

    def __getitem__(self, name: str) -> NodeType:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def extended(self, extra: Iterable[NodeType]) -> NodeTypes:
        """A catalog with `extra` added; a name clash or a bad name is a ValueError."""
        added = list(extra)
        for node_type in added:
            check_plugin_type(node_type)
            if node_type.name in self._types:
                raise ValueError(f"node type {node_type.name!r} already exists")
        return NodeTypes([*self._types.values(), *added])


def check_plugin_type(node_type: NodeType) -> None:
    """ValueError unless a type declared outside the core is one the core can run."""
    if not _TYPE_NAME.match(node_type.name):
        raise ValueError(
            f"node type name {node_type.name!r} must match {TYPE_NAME_PATTERN} "
            "(snake_case, dotted for namespaces)"
        )
    if node_type.execution not in PLUGIN_EXECUTIONS:
        raise ValueError(
            f"node type {node_type.name!r} runs as {node_type.execution}; a plugin type runs "
            "inline or in a worker"
        )
    if node_type.config_model is not None:
        try:  # a model with an unresolved forward reference fails only when used
            node_type.json_schema()
        except Exception as exc:  # plugin code: any failure is its own
            raise ValueError(
                f"node type {node_type.name!r}: its config model is unusable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if node_type.config_schema is not None:
        _check_schema(node_type.name, "config", node_type.config_schema)
    if node_type.output_schema is not None:
        _check_schema(node_type.name, "output", node_type.output_schema)


def _check_schema(name: str, what: str, schema: Mapping[str, Any]) -> None:
    problem = schema_problem(schema)
    if problem is not None:
        raise ValueError(f"node type {name!r}: its {what} schema is invalid: {problem}")


def output_problem(schema: Mapping[str, Any] | None, output: Any) -> str | None:
    """Why `output` breaks a type's output schema (the first reason), or None."""
    if schema is None:
        return None
    error = jsonschema.exceptions.best_match(SafeValidator(dict(schema)).iter_errors(output))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at output/{where})" if where else "")


def inline_evaluator(
    name: str,
    handler: Callable[[dict[str, Any]], Any],
    output_schema: Mapping[str, Any] | None = None,
) -> InlineEvaluator:
    """The `evaluate` of an inline plugin type: render the config, call the pure handler.

    A handler that raises, or returns an output its schema rejects, fails the step for
    good (InlineNodeError); it never escapes into the decider.
    """

    def evaluate(config: dict[str, Any], context: dict[str, Any]) -> InlineOutcome:
        rendered = render(config, context).value
        try:
            output = handler(rendered)
        except (ExpressionError, InlineNodeError):
            raise
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            raise InlineNodeError(f"{name}: {message}", code=type(exc).__name__) from exc
        problem = output_problem(output_schema, output)
        if problem is not None:
            raise InlineNodeError(
                f"{name}: output does not match its schema: {problem}", code="OutputInvalid"
            )
        return InlineOutcome(output=output)

    return evaluate
