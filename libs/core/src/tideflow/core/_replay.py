"""Time travel and replay: the state after any event, and forking a new run from it.

A replay restores the outputs of the steps that had succeeded at the chosen event, so they
are not run again. That is only right while their effects still hold in the world: a
step whose effects a compensation undid in the source run runs again in the replay.
"""

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from tideflow.core._commands import Replay, StartRun
from tideflow.core._events import (
    CompensationFailed,
    Event,
    ReplayOrigin,
    Restored,
    RestoredItem,
    StepRole,
    StepScheduled,
)
from tideflow.core._evolve import fold
from tideflow.core._graph import Graph, reachable
from tideflow.core._ids import compensated_step
from tideflow.core._state import RunState, StepStatus
from tideflow.core.nodes import Execution


def state_at(events: Sequence[Event], seq: int) -> RunState:
    """The run state right after event number `seq` (1-based; 0 is before the start)."""
    if seq < 0:
        raise ValueError("seq must not be negative")
    return fold(events[:seq])


_UNSET: Any = object()


def compensated_steps(events: Sequence[Event]) -> frozenset[str]:
    """Flow steps whose effects a compensation undid, or is undoing, in this history.

    A compensation counts once it was started (its step scheduled) unless it failed for
    good: a failed compensation left the step's effect in place as far as anyone knows,
    and running the step again would do it twice.
    """
    started: set[str] = set()
    failed: set[str] = set()
    for event in events:
        if isinstance(event, StepScheduled) and event.role is StepRole.COMPENSATION:
            started.add(compensated_step(event.step))
        elif isinstance(event, CompensationFailed):
            failed.add(event.for_step)
    return frozenset(started - failed)


def _downstream(graph: Graph, steps: AbstractSet[str]) -> set[str]:
    """`steps` and every flow node after them: they consumed outputs that no longer hold."""
    return reachable(steps, graph.successors)


def fork(
    events: Sequence[Event],
    seq: int,
    *,
    run_id: str,
    command_id: str,
    input: Any = _UNSET,  # noqa: A002 - the run input, named as everywhere else
) -> StartRun:
    """A StartRun for a new run that continues from the state after event `seq`.

    Flow steps that had succeeded by then keep their outputs and are not run again, unless
    a compensation undid their effects in the source run (after `seq` or before it: pass
    the whole history): their "succeeded" no longer holds in the world, so they run
    again, and so does every step after them in the graph (it consumed their outputs and
    ran after them; running it before them would break both). Every other step runs
    afresh. Pass `input` to change the run input.
    """
    state = state_at(events, seq)
    if state.definition is None:
        raise ValueError(f"no run has started by event {seq}")
    succeeded = [
        key
        for key, step in state.steps.items()
        if step.role is StepRole.FLOW and step.status is StepStatus.SUCCEEDED
    ]
    rerun = _downstream(Graph(state.definition), compensated_steps(events) & set(succeeded))
    outputs = {key: state.steps[key].output for key in succeeded if key not in rerun}
    items = _succeeded_items(state, rerun)
    return StartRun(
        command_id=command_id,
        run_id=run_id,
        workflow=state.workflow,
        version=state.version,
        definition=state.definition,
        input=state.input if input is _UNSET else input,
        parent=state.parent,
        replay_of=ReplayOrigin(run_id=state.run_id, seq=seq),
        restored=Restored(
            outputs=outputs,
            order=tuple(k for k in state.completed if k in outputs),
            vars=dict(state.vars),
            items=items,
        ),
    )


def _succeeded_items(
    state: RunState, rerun: AbstractSet[str]
) -> dict[str, dict[int, RestoredItem]]:
    """The items that had succeeded in each foreach still going at the fork (not one to
    run again after a compensation), with their item: the replay keeps those outputs."""
    going = {
        key
        for key, step in state.steps.items()
        if step.role is StepRole.FLOW
        and step.execution is Execution.FOREACH
        and step.status is not StepStatus.SUCCEEDED
        and key not in rerun
        and step.items_done
    }
    kept: dict[str, dict[int, RestoredItem]] = {}
    for step in state.steps.values():
        parent = step.parent_step
        if (
            parent is not None
            and parent in going
            and step.role is StepRole.ITEM
            and step.status is StepStatus.SUCCEEDED
            and step.index is not None
        ):
            items = state.steps[parent].config["items"]
            kept.setdefault(parent, {})[step.index] = RestoredItem(
                item=items[step.index], output=step.output
            )
    return kept


def replay(events: Sequence[Event], command: Replay) -> StartRun:
    """Resolve a Replay command against the events of its source run."""
    if command.input is None:
        return fork(events, command.seq, run_id=command.run_id, command_id=command.command_id)
    return fork(
        events,
        command.seq,
        run_id=command.run_id,
        command_id=command.command_id,
        input=command.input,
    )
