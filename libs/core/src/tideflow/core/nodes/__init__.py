"""Node types. Adding one: write a module with a `NODE_TYPE` and list it in `_MODULES`."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from tideflow.core.nodes import (
    _approval,
    _condition,
    _delay,
    _foreach,
    _function,
    _http,
    _llm,
    _log,
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

if TYPE_CHECKING:
    from collections.abc import Mapping

_MODULES = (
    _transform,
    _condition,
    _switch,
    _log,
    _set,
    _http,
    _function,
    _llm,
    _delay,
    _signal,
    _approval,
    _foreach,
    _subworkflow,
)

NODE_TYPES: Mapping[str, NodeType] = MappingProxyType(
    {module.NODE_TYPE.name: module.NODE_TYPE for module in _MODULES}
)
"""Every node type the core knows, by name."""


def get_node_type(name: str) -> NodeType | None:
    """The node type called `name`, or None when there is no such type."""
    return NODE_TYPES.get(name)


__all__ = [
    "NODE_TYPES",
    "Execution",
    "ExpressionSite",
    "InlineOutcome",
    "NodeConfig",
    "NodeType",
    "get_node_type",
]
