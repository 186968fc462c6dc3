"""The flow: which nodes start or are skipped once their predecessors decided, and when
the run succeeds."""

import heapq

from tideflow.core._decider import _saga as saga
from tideflow.core._decider import _steps as steps
from tideflow.core._decider._decision import Decision
from tideflow.core._definition import Join
from tideflow.core._errors import ExpressionError
from tideflow.core._events import RunError, RunSucceeded, StepRole, StepSkipped
from tideflow.core._graph import Edge
from tideflow.core._limits import size_violation
from tideflow.core._state import StepStatus, tally_of
from tideflow.core._templates import render
from tideflow.core.nodes import Execution


def edge_taken(d: Decision, edge: Edge) -> bool | None:
    """None while the source is unfinished, else whether the edge carries control."""
    source = d.state.steps[edge.source]
    if not source.status.terminal:
        return None
    if source.status is not StepStatus.SUCCEEDED:
        return False
    if edge.when is None and source.execution is not Execution.APPROVAL:
        return True
    node_type = d.context.types.get(source.node_type)
    if node_type is None or node_type.branch is None:
        return edge.when is None
    # an edge without `when` out of an approval means `approve` (its default branch)
    when = edge.when or node_type.default_when
    if when is None:
        return True
    return node_type.branch(source.output, when, d.graph.whens(edge.source))


def readiness(d: Decision, node_id: str) -> bool | None:
    """True: start it; False: skip it; None: wait for more predecessors."""
    graph = d.graph
    if graph.nodes[node_id].join is Join.ALL:
        # An `all` join waits while any predecessor is unfinished: the kept count says
        # so at once, so a wide fan-in is not rescanned after every branch.
        open_inputs = d.state.open_inputs
        if open_inputs is not None and open_inputs.get(node_id, 0) > 0:
            return None
    taken = False
    unresolved = False
    for edge in graph.incoming[node_id]:
        verdict = edge_taken(d, edge)
        if verdict is None:
            unresolved = True
        elif verdict:
            taken = True
    if graph.nodes[node_id].join is Join.ANY and taken:
        return True
    if unresolved:
        return None
    return taken or not graph.incoming[node_id]


def advance(d: Decision) -> None:
    """Start or skip every node whose predecessors allow it; finish the run when done.

    Only nodes in the frontier can have become ready (a node's readiness changes only
    when a predecessor finishes). They are visited in passes in `flow_ids` order, a
    node that becomes a candidate behind the current one waiting for the next pass:
    exactly the order of a full scan repeated until nothing changes, which recorded
    histories depend on.
    """
    if d.stopped():
        return
    graph = d.graph
    position = graph.position
    while d.frontier:
        queued = d.frontier
        d.frontier = set()
        heap = sorted(position[n] for n in queued)
        while heap:
            current = heapq.heappop(heap)
            if d.stopped():
                return
            visit(d, graph.flow_ids[current])
            if d.frontier:
                for node_id in [n for n in d.frontier if position[n] > current]:
                    d.frontier.discard(node_id)
                    if node_id not in queued:
                        queued.add(node_id)
                        heapq.heappush(heap, position[node_id])
    if not d.stopped() and tally_of(d.state).open_flow == 0:
        succeed_run(d)


def visit(d: Decision, node_id: str) -> None:
    """Start or skip one pending node if its predecessors have decided."""
    if d.state.steps[node_id].status is not StepStatus.PENDING:
        return
    ready = readiness(d, node_id)
    if ready is None:
        return
    if ready:
        steps.schedule(d, node_id, d.graph.nodes[node_id], StepRole.FLOW)
    else:
        d.emit(StepSkipped(at=d.now, step=node_id, reason="branch not taken"))


def succeed_run(d: Decision) -> None:
    """Finish with `spec.output`, or the outputs of the sink nodes that ran."""
    template = d.graph.definition.spec.output
    if template is None:
        output = {
            n: d.state.steps[n].output
            for n in d.graph.sinks
            if d.state.steps[n].status is StepStatus.SUCCEEDED
        }
    else:
        try:
            output = render(template, d.expressions()).value
        except ExpressionError as exc:
            saga.fail_run(d, RunError(type=exc.code, message=f"spec.output: {exc}"))
            return
    too_large = size_violation(output, what="the run output", max_bytes=d.state.limits.output_bytes)
    if too_large is not None:
        saga.fail_run(d, RunError(type=too_large.code, message=too_large.message))
        return
    d.emit(RunSucceeded(at=d.now, output=output))
