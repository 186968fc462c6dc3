"""Node types. Adding a built-in: write a module with a `NODE_TYPE`, list it in `_MODULES`.

Types declared outside the core (plugins, connectors, the adapters' own types such as
`llm`) reach the validator and the decider through a `NodeTypes` catalog the caller
builds (`BUILTIN_NODE_TYPES.extended(...)`, see `tideflow.plugins`).
"""

from __future__ import annotations

from tideflow.core.nodes import (
    _agent,
    _approval,
    _condition,
    _database,
    _delay,
    _foreach,
    _function,
    _http,
    _llm,
    _log,
    _notify,
    _ocr,
    _set,
    _signal,
    _subworkflow,
    _switch,
    _transform,
)
from tideflow.core.nodes._base import (
    Execution,
    ExpressionSite,
    InlineOutcome,
    NodeConfig,
    NodeType,
)
from tideflow.core.nodes._catalog import (
    PLUGIN_EXECUTIONS,
    TYPE_NAME_PATTERN,
    NodeTypes,
    check_plugin_type,
    inline_evaluator,
    output_problem,
)

_MODULES = (
    _transform,
    _condition,
    _switch,
    _log,
    _set,
    _http,
    _function,
    _llm,
    _ocr,
    _database,
    _notify,
    _delay,
    _signal,
    _approval,
    _foreach,
    _subworkflow,
    _agent,
)

BUILTIN_NODE_TYPES = NodeTypes(module.NODE_TYPE for module in _MODULES)
"""Every node type the core itself defines, by name (immutable)."""
NODE_TYPES = BUILTIN_NODE_TYPES
"""The built-in catalog (kept under its older name)."""


def get_node_type(name: str, types: NodeTypes = BUILTIN_NODE_TYPES) -> NodeType | None:
    """The node type called `name` in `types`, or None when there is no such type."""
    return types.get(name)


__all__ = [
    "BUILTIN_NODE_TYPES",
    "NODE_TYPES",
    "PLUGIN_EXECUTIONS",
    "TYPE_NAME_PATTERN",
    "Execution",
    "ExpressionSite",
    "InlineOutcome",
    "NodeConfig",
    "NodeType",
    "NodeTypes",
    "check_plugin_type",
    "get_node_type",
    "inline_evaluator",
    "output_problem",
]
