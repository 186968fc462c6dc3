"""References to other nodes (`nodes.<id>`) that can never be read where they are written.

An expression reads `nodes.<id>` from the outputs of the steps the run has recorded so
far. A node that does not exist (a typo), or one that does not run before the reader
(no path of edges leads from it to the reader, so it may not have started), failed only
when a run reached the expression. These checks find both when a definition is written.

They are separate from `validate_definition` on purpose, like the publish policy: a
version published before they existed must still load wherever it is read (the
scheduler, the trigger service), and keeps running as it did. So they apply where
definitions are written: saved, validated and published through the gateway or collab,
`tide workflow validate`, the SDK's builder.

Only what is certainly wrong is reported: a reference is read from the checked CEL tree
(not from the text, so a string that happens to say `nodes.x` is not one), an expression
that does not compile is `validate_definition`'s to report, and `has(nodes.x)`, which is
how an expression asks whether a node on another branch ran, may name any node there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tideflow.core._cel import Scope, compile_expression
from tideflow.core._cel_cost import Node, program_tree
from tideflow.core._definition import WorkflowDefinition
from tideflow.core._errors import ExpressionError, Problem, ProblemCode
from tideflow.core._explain import suggestion
from tideflow.core._graph import Graph, reachable
from tideflow.core._templates import iter_expressions
from tideflow.core.nodes import BUILTIN_NODE_TYPES, NodeTypes

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from tideflow.core._definition import NodeSpec


@dataclass(frozen=True, slots=True)
class NodeReference:
    """`nodes.<node>` in an expression; `presence` when it is `has(nodes.<node>)`."""

    node: str
    presence: bool


def node_reads(source: str, scope: Scope = Scope.RUN) -> tuple[NodeReference, ...]:
    """The nodes an expression names as `nodes.<id>` or `nodes["<id>"]`, in order.

    Raises ExpressionError when it does not compile.
    """
    tree = program_tree(compile_expression(source, scope).serialize())
    return tuple(_walk(tree, shadowed=False))


def _is_nodes(node: Node, *, shadowed: bool) -> bool:
    return not shadowed and node.kind == "ident" and node.name == "nodes"


def _walk(node: Node, *, shadowed: bool) -> Iterator[NodeReference]:
    if node.kind == "select" and node.children and _is_nodes(node.children[0], shadowed=shadowed):
        yield NodeReference(node.name, presence=node.test_only)
        return
    if (
        node.kind == "call"
        and node.name == "_[_]"
        and len(node.children) == 2  # noqa: PLR2004 - the map and the key
        and _is_nodes(node.children[0], shadowed=shadowed)
        and node.children[1].kind == "const"
        and isinstance(node.children[1].value, str)
    ):
        yield NodeReference(node.children[1].value, presence=False)
        return
    if node.kind == "comprehension":
        # a macro's variable named `nodes` hides the run's nodes inside the macro
        inner = shadowed or "nodes" in node.vars
        for part, child in node.extra.items():
            yield from _walk(child, shadowed=shadowed if part == "range" else inner)
        return
    for child in node.children:
        yield from _walk(child, shadowed=shadowed)
    for key in node.keys:
        if isinstance(key, Node):
            yield from _walk(key, shadowed=shadowed)


def _ancestors(predecessors: Mapping[str, Iterable[str]], node_id: str) -> frozenset[str]:
    """The nodes with a path of edges to `node_id` (a cycle through it is CYCLE's to report)."""
    return frozenset(reachable(predecessors.get(node_id, ()), predecessors) - {node_id})


@dataclass(frozen=True, slots=True)
class _Reader:
    """Where expressions are read and which nodes are sure to have run by then."""

    path: str
    node: str | None
    ran: frozenset[str]
    why: str
    """Why another node has not run there, for the message."""


def reference_problems(document: Any, types: NodeTypes = BUILTIN_NODE_TYPES) -> list[Problem]:
    """`UNKNOWN_NODE_REFERENCE` and `NODE_NOT_UPSTREAM` problems of a definition (a mapping
    or a model); [] when it has none, or when it is not well-formed enough to tell (that
    is `validate_definition`'s to report)."""
    try:
        definition = (
            document
            if isinstance(document, WorkflowDefinition)
            else WorkflowDefinition.model_validate(document)
        )
    except (ValidationError, ValueError, TypeError):
        return []
    graph = Graph(definition)
    predecessors = {n: [e.source for e in edges] for n, edges in graph.incoming.items()}
    ids = [n.id for n in definition.spec.nodes]
    flow = frozenset(graph.flow_ids)
    problems: list[Problem] = []
    for index, node in enumerate(definition.spec.nodes):
        if node.id in graph.compensation_ids:
            reader = _Reader(f"spec.nodes[{index}]", node.id, flow - {node.id},
                             "a compensation runs only when unwinding")  # fmt: skip
        else:
            reader = _Reader(f"spec.nodes[{index}]", node.id, _ancestors(predecessors, node.id),
                             f"no path of edges leads from it to {node.id!r}")  # fmt: skip
        for path, source, scope in _node_expressions(node, types):
            problems += _check(reader, path, source, scope, ids)
    sites = (
        (_Reader("spec.output", None, flow, "only the workflow's nodes are recorded"),
         definition.spec.output),
        (_Reader("spec.vars", None, frozenset(),
                 "spec.vars are worked out when the run starts, before any node ran"),
         dict(definition.spec.vars)),
    )  # fmt: skip
    for reader, value in sites:
        problems += _check_templates(reader, value, ids)
    return problems


def _node_expressions(node: NodeSpec, types: NodeTypes) -> Iterator[tuple[str, str, Scope]]:
    node_type = types.get(node.type)
    try:
        if node_type is not None:
            for site in node_type.expression_sites(node.config):
                yield _dotted("config", site.path), site.source, site.scope
        if node.idempotency_key is not None:
            for path, source, _whole in iter_expressions(node.idempotency_key):
                yield _dotted("idempotencyKey", path), source, Scope.RUN
    except ExpressionError:  # an unclosed template: validate_definition reports it
        return


def _check_templates(reader: _Reader, value: Any, ids: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    try:
        for path, source, _whole in iter_expressions(value):
            problems += _check(reader, _dotted("", path), source, Scope.RUN, ids)
    except ExpressionError:
        return problems
    return problems


def _dotted(prefix: str, path: Iterable[int | str]) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check(reader: _Reader, path: str, source: str, scope: Scope, ids: list[str]) -> list[Problem]:
    try:
        reads = node_reads(source, scope)
    except ExpressionError:
        return []
    where = f"{reader.path}.{path}" if path else reader.path
    who = f"node {reader.node!r}: " if reader.node else f"{reader.path}: "
    problems: list[Problem] = []
    reported: set[str] = set()
    for read in reads:
        if read.node in reported:
            continue
        if read.node not in ids:
            reported.add(read.node)
            problems.append(Problem(
                ProblemCode.UNKNOWN_NODE_REFERENCE,
                f"{who}`{source}` reads nodes.{read.node}, which is not a node of this "
                f"workflow{suggestion(read.node, ids)}",
                where, reader.node,
            ))  # fmt: skip
        elif not read.presence and read.node not in reader.ran:
            reported.add(read.node)
            problems.append(Problem(
                ProblemCode.NODE_NOT_UPSTREAM,
                f"{who}`{source}` reads nodes.{read.node}, which has not run there "
                f"({reader.why}); add an edge, or test has(nodes.{read.node}) first",
                where, reader.node,
            ))  # fmt: skip
    return problems
