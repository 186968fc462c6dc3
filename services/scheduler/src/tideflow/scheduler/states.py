"""Run states for the runs this replica decides: memory, else snapshot + log tail.

Next to each state the cache keeps the run's decider context (`RunContext`: its parsed
definition, graph and memos), so a run's definition is parsed once per load, not once
per command.

The cache is only written after a commit succeeded, so it never holds a state the log
does not. When another replica wrote to a run meanwhile (after a rebalance), the append
conflicts, the entry is dropped and the run is reloaded from the log.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from tideflow.core import BUILTIN_NODE_TYPES, RunContext
from tideflow.scheduler.snapshots import fold_from, restored

if TYPE_CHECKING:
    from tideflow.core import NodeTypes, RunState
    from tideflow.store import RunLog


class RunStates:
    """An LRU of folded run states, bounded so a long-lived scheduler keeps flat memory."""

    def __init__(
        self, *, store: RunLog, capacity: int = 20_000, types: NodeTypes = BUILTIN_NODE_TYPES
    ) -> None:
        self._store = store
        self._types = types
        self._capacity = capacity
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._contexts: dict[str, RunContext] = {}
        self.loads = 0

    async def get(self, run_id: str) -> RunState | None:
        """The run's current state, or None when it has no events yet."""
        states, _ = await self.get_many({run_id})
        return states[run_id]

    async def get_many(
        self, run_ids: set[str], *, presumed_new: set[str] | frozenset[str] = frozenset()
    ) -> tuple[dict[str, RunState | None], set[str]]:
        """`get` for every run of a batch: the missing ones are rebuilt together, each from
        its latest snapshot plus the events after it (one round trip for the whole batch).

        Runs of `presumed_new` that are not cached are taken as not started without
        reading the log (the caller's commit checks it); the second value names them."""
        found: dict[str, RunState | None] = {}
        for run_id in run_ids:
            state = self._states.get(run_id)
            if state is not None:
                self._states.move_to_end(run_id)
                found[run_id] = state
        presumed = (run_ids & presumed_new) - found.keys()
        found |= dict.fromkeys(presumed)
        missing = run_ids - found.keys()
        if missing:
            self.loads += len(missing)
            for run_id, (snapshot, events) in (await self._store.load_runs(missing)).items():
                state = fold_from(restored(snapshot), events)
                if state is not None:
                    self.put(run_id, state, RunContext.for_state(state, self._types))
                found[run_id] = state
        return found, presumed

    def context(self, run_id: str, state: RunState | None) -> RunContext | None:
        """The decider context of a run whose state `get_many` gave (None: not started)."""
        context = self._contexts.get(run_id)
        if context is not None or state is None:
            return context
        return RunContext.for_state(state, self._types)

    def put(self, run_id: str, state: RunState, context: RunContext | None = None) -> None:
        self._states[run_id] = state
        self._states.move_to_end(run_id)
        if context is not None and context.definition is state.definition:
            self._contexts[run_id] = context
        else:
            self._contexts.pop(run_id, None)
        while len(self._states) > self._capacity:
            evicted, _ = self._states.popitem(last=False)
            self._contexts.pop(evicted, None)

    def forget(self, run_ids: set[str] | frozenset[str]) -> None:
        for run_id in run_ids:
            self._states.pop(run_id, None)
            self._contexts.pop(run_id, None)

    def clear(self) -> None:
        self._states.clear()
        self._contexts.clear()
