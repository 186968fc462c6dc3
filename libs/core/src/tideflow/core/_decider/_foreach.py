"""`foreach`: start items up to the concurrency limit; succeed with every item's output.

A failed item (after its retries) fails the foreach: see `attempts.step_failed`.

Two bounds keep one big foreach from hurting other runs:
- one decision starts at most `ITEMS_PER_DECISION` items; when more could start, it sets a
  timer due at once (`TimerKind.FOREACH_CONTINUE`) and the next share is started by the
  decision of that timer, so the scheduler decides other runs' commands in between (a
  10,000-item inline foreach used to hold the scheduler for seconds in one decision);
- the combined output is counted as items succeed (`StepState.item_output_bytes`), so the
  foreach fails at the item that crosses its limit instead of after every item wrote its
  output to the log.

In a replayed run, an item that had succeeded in the source run by the event replayed
from keeps its output (`ItemRestored`) instead of running again, when the foreach has
the same item at that index (a replay with another input may give other items).
"""

from typing import Any

from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _steps as steps
from tideflow.core._decider._decision import Decision
from tideflow.core._definition import NodeSpec
from tideflow.core._events import (
    ItemRestored,
    StepError,
    StepRole,
    StepScheduled,
    StepSucceeded,
    TimerKind,
    TimerScheduled,
)
from tideflow.core._ids import foreach_continue_timer_id, item_key
from tideflow.core._limits import LimitCode, check_value
from tideflow.core._state import StepState, StepStatus
from tideflow.core.nodes._foreach import MAX_ITEMS

ITEMS_PER_DECISION = 100
"""Items one decision may start across its foreach steps (inline items run right there)."""


def schedule_foreach(d: Decision, key: str, config: Any, common: dict[str, Any]) -> None:
    """Check the rendered items, then start the first `concurrency` of them."""
    items = config.get("items")
    spec = d.graph.nodes[common["node_id"]]
    most = min(d.state.limits.foreach_items, MAX_ITEMS)
    if not isinstance(items, list) or len(items) > most:
        too_many = isinstance(items, list)
        got = f"{len(items):,} items" if too_many else type(items).__name__
        steps.fail_unscheduled(
            d, key, spec, StepRole(common["role"]), common["attempt"],
            LimitCode.FOREACH_TOO_MANY_ITEMS.value if too_many else "InvalidItems",
            f"node {spec.id!r}: items must be a list of at most {most:,} values, got {got}",
            common,
        )  # fmt: skip
        return
    d.emit(StepScheduled(**common, config=config))
    pump(d, key)


def pump(d: Decision, key: str) -> None:
    """Start items up to the concurrency limit; finish the foreach when all are done.

    An inline item succeeds while it is being started and asks to pump again: that call
    returns at once and this loop goes on, so 10,000 inline items nest no calls.
    """
    if key in d.pumping:
        return
    d.pumping.add(key)
    try:
        _pump(d, key)
    finally:
        d.pumping.discard(key)


def _pump(d: Decision, key: str) -> None:
    """Items are started in index order, so items 0 .. `items_started`-1 exist and the
    parent's counts say what to do next without scanning its items."""
    parent = d.state.steps[key]
    items: list[Any] = parent.config["items"]
    limit = int(parent.config.get("concurrency", 10))
    spec = d.context.pinned.item_specs[parent.node_id]
    while True:
        parent = d.state.steps[key]
        if parent.status.terminal or _output_outgrown(d, parent):
            return
        started = parent.items_started
        if started == len(items):
            if parent.items_done == started:
                _finish_if_all_succeeded(d, key, len(items))
            return
        if started - parent.items_done >= limit:
            return
        if d.item_starts >= ITEMS_PER_DECISION:
            _continue_later(d, parent, started)
            return
        d.item_starts += 1
        if d.state.restored_items and _restore(d, parent, spec, started, items[started]):
            continue
        steps.schedule(
            d, item_key(key, started), spec, StepRole.ITEM, parent_step=key, index=started,
            item=items[started],
        )  # fmt: skip


def _restore(d: Decision, parent: StepState, spec: NodeSpec, index: int, item: Any) -> bool:
    """Keep the output item `index` had in the run this one was forked from, if it had
    succeeded there for the same item; True when it did."""
    if parent.role is not StepRole.FLOW:
        return False
    kept = d.state.restored_items.get(parent.node_id, {}).get(index)
    if kept is None or kept.item != item:
        return False
    d.emit(
        ItemRestored(
            at=d.now, step=item_key(parent.step, index), node_id=spec.id, node_type=spec.type,
            parent_step=parent.step, index=index, output=kept.output,
        )
    )  # fmt: skip
    return True


def _finish_if_all_succeeded(d: Decision, key: str, count: int) -> None:
    done = [d.state.steps[item_key(key, i)] for i in range(count)]
    if all(s.status is StepStatus.SUCCEEDED for s in done):
        finish(d, key, [s.output for s in done])


def _continue_later(d: Decision, parent: StepState, next_index: int) -> None:
    """Set the timer (due now) whose firing starts the foreach's next share of items."""
    timer = foreach_continue_timer_id(parent.step, next_index)
    if timer in d.state.timers:
        return
    d.emit(
        TimerScheduled(
            at=d.now, timer_id=timer, kind=TimerKind.FOREACH_CONTINUE, step=parent.step,
            attempt=parent.attempt, fire_at=d.now,
        )
    )  # fmt: skip


def _output_outgrown(d: Decision, parent: StepState) -> bool:
    """Fail the foreach (stopping its other items) once its succeeded items' outputs no
    longer fit its combined-output limit; True when it did."""
    most = d.state.limits.foreach_output_bytes
    size = parent.item_output_bytes + 1  # the closing bracket; each item counted its comma
    if size <= most:
        return False
    message = (
        f"the combined output of foreach {parent.step!r} is more than the {most:,} bytes "
        f"allowed ({size:,} bytes once its succeeded items are counted)"
    )
    attempts.stop_steps(d, message, only_parent=parent.step)
    error = StepError(type=LimitCode.FOREACH_OUTPUT_TOO_LARGE.value, message=message)
    attempts.attempt_failed(d, parent.step, error)
    return True


def finish(d: Decision, key: str, outputs: list[Any]) -> None:
    """Every item succeeded: the foreach's output is their outputs, if that fits."""
    limits = d.state.limits
    violation = check_value(
        outputs, what=f"the combined output of foreach {key!r}",
        max_depth=limits.json_depth, max_bytes=limits.foreach_output_bytes,
    )  # fmt: skip
    if violation is not None:
        code = violation.code
        if code is LimitCode.VALUE_TOO_LARGE:
            code = LimitCode.FOREACH_OUTPUT_TOO_LARGE
        attempts.attempt_failed(d, key, StepError(type=code.value, message=violation.message))
        return
    attempt = d.state.steps[key].attempt
    d.emit(StepSucceeded(at=d.now, step=key, attempt=attempt, output=outputs))
    attempts.step_succeeded(d, key)


def item_of(d: Decision, parent: str | None, index: int | None) -> object:
    """The item a foreach item step works on (None for other steps)."""
    if parent is None or index is None:
        return None
    items = d.state.steps[parent].config["items"]
    return items[index]
