"""Problem messages a person can act on: which node, which field, what would be valid.

Validation locates problems by path (`spec.nodes[3].config.duration`), which an editor
needs; a person reading a terminal needs the node's id, the fields a mapping does take
and the closest valid spelling. These helpers add that without changing the codes or
paths clients branch on.
"""

from __future__ import annotations

import difflib
import re
import types
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from tideflow.core._errors import Problem

_NODE_PATH = re.compile(r"^spec\.nodes\[(\d+)\]")
_EDGE_PATH = re.compile(r"^spec\.edges\[(\d+)\]")


def suggestion(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when one choice is close to `word`, else ``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (itself, or inside Optional/list/dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in {Union, types.UnionType, list, tuple, dict} or get_args(
        annotation
    ):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written in definitions (camelCase aliases)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc` inside `model` (None if not a model)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = next(
            (info for name, info in current.model_fields.items() if part in {name, info.alias}),
            None,
        )
        if field is None:
            return None
        found = _models_in(field.annotation)
        current = found[0] if found else None
    return current


def unknown_field(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    """The message for a key the model does not take: what it does take, and the closest."""
    name = str(loc[-1]) if loc else "?"
    owner = model_at(model, loc[:-1]) if model is not None else None
    if owner is None:
        return f"unknown field {name!r}: this mapping takes no such key"
    allowed = field_names(owner)
    inner = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
    where = f"{_described(model)}'s {inner}" if inner and model else _described(owner)
    return (
        f"unknown field {name!r}{suggestion(name, allowed)}: {where} takes only "
        f"{', '.join(allowed)}"
    )


_DESCRIBED = {"NodeSpec": "a node", "EdgeSpec": "an edge", "WorkflowDefinition": "a workflow"}


def _described(model: type[BaseModel] | None) -> str:
    if model is None:
        return "this mapping"
    name = model.__name__
    if name in _DESCRIBED:
        return _DESCRIBED[name]
    if name.endswith("Config"):
        return f"the config of a {name.removesuffix('Config').lower()} node"
    return name


def name_nodes_and_edges(problems: list[Problem], spec: Any) -> list[Problem]:
    """Each problem under `spec.nodes[i]` / `spec.edges[i]` names that node or edge.

    The id goes into `node` and, unless the message already says it, in front of the
    message; edges are named `from -> to`.
    """
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    edges = spec.get("edges") if isinstance(spec, dict) else None
    named = []
    for problem in problems:
        node_match = _NODE_PATH.match(problem.path)
        edge_match = _EDGE_PATH.match(problem.path)
        if node_match and isinstance(nodes, list):
            node_id = _id_at(nodes, int(node_match[1]))
            if node_id is not None:
                message = problem.message
                if f"node {node_id!r}" not in message:
                    message = f"node {node_id!r}: {message}"
                problem = replace(problem, message=message, node=node_id)  # noqa: PLW2901
        elif edge_match and isinstance(edges, list):
            edge = _edge_at(edges, int(edge_match[1]))
            if edge is not None and edge not in problem.message:
                problem = replace(problem, message=f"edge {edge}: {problem.message}")  # noqa: PLW2901
        named.append(problem)
    return named


def _id_at(nodes: list[Any], index: int) -> str | None:
    node = nodes[index] if 0 <= index < len(nodes) else None
    node_id = node.get("id") if isinstance(node, dict) else None
    return node_id if isinstance(node_id, str) and node_id else None


def _edge_at(edges: list[Any], index: int) -> str | None:
    edge = edges[index] if 0 <= index < len(edges) else None
    if not isinstance(edge, dict):
        return None
    source, target = edge.get("from"), edge.get("to")
    if isinstance(source, str) and isinstance(target, str):
        return f"{source} -> {target}"
    return None
