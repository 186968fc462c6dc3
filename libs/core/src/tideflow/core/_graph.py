"""The graph view of a definition: edges by node, start and sink nodes, cycles.

Compensation nodes (named by some node's `compensate`) are not part of the flow: they run
only during a saga unwind, so they are neither start nodes nor sinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from tideflow.core._definition import EdgeSpec, NodeSpec, WorkflowDefinition


@dataclass(frozen=True, slots=True)
class Edge:
    """An edge by index, so problems and decisions can point at `spec.edges[i]`."""

    index: int
    source: str
    target: str
    when: str | None


class Graph:
    """Read-only adjacency of the flow nodes of a definition, computed once when built
    (nothing is filled in later: a graph shared by many runs never changes)."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self.nodes: dict[str, NodeSpec] = {n.id: n for n in definition.spec.nodes}
        self.compensation_ids = frozenset(
            n.compensate for n in definition.spec.nodes if n.compensate
        )
        self.flow_ids: tuple[str, ...] = tuple(
            n.id for n in definition.spec.nodes if n.id not in self.compensation_ids
        )
        self.position: dict[str, int] = {node_id: i for i, node_id in enumerate(self.flow_ids)}
        """Index of each flow node in `flow_ids`: the order in which ready nodes start."""
        self.incoming: dict[str, list[Edge]] = {i: [] for i in self.nodes}
        self.outgoing: dict[str, list[Edge]] = {i: [] for i in self.nodes}
        for index, spec in enumerate(definition.spec.edges):
            edge = _edge(index, spec)
            if edge.source in self.nodes and edge.target in self.nodes:
                self.outgoing[edge.source].append(edge)
                self.incoming[edge.target].append(edge)
        self.successors: dict[str, tuple[str, ...]] = {
            node_id: tuple(dict.fromkeys(e.target for e in out if e.target in self.position))
            for node_id, out in self.outgoing.items()
        }
        """Flow nodes each node has an edge to (once each, in edge order)."""
        self.starts: tuple[str, ...] = tuple(i for i in self.flow_ids if not self.incoming[i])
        """Flow nodes without incoming edges, in definition order."""
        self.sinks: tuple[str, ...] = tuple(i for i in self.flow_ids if not self.outgoing[i])
        """Flow nodes without outgoing edges: their outputs form the default run output."""
        self._whens = {
            node_id: frozenset(e.when for e in out if e.when is not None)
            for node_id, out in self.outgoing.items()
        }

    def whens(self, node_id: str) -> frozenset[str]:
        """The `when` values on the edges leaving a node."""
        return self._whens[node_id]


def _edge(index: int, spec: EdgeSpec) -> Edge:
    return Edge(index, spec.from_, spec.to, spec.when)


def find_cycles(nodes: Sequence[str], successors: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle per back edge found by DFS, each as [a, b, ..., a], without repeats."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(nodes, white)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in nodes:
        if colour[root] != white:
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(root, list(successors.get(root, ())))]
        colour[root] = grey
        path.append(root)
        while stack:
            node, pending = stack[-1]
            if not pending:
                colour[node] = black
                path.pop()
                stack.pop()
                continue
            nxt = pending.pop(0)
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                cycle = [*path[path.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, list(successors.get(nxt, ()))))
    return cycles


def reachable(starts: Iterable[str], successors: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable from `starts` (including them)."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(successors.get(node, ()))
    return seen
