"""`foreach`: start items up to the concurrency limit; succeed with every item's output.

A failed item (after its retries) fails the foreach: see `attempts.step_failed`.
"""

from typing import Any

from tideflow.core._decider import _attempts as attempts
from tideflow.core._decider import _steps as steps
from tideflow.core._decider._decision import Decision
from tideflow.core._events import StepRole, StepScheduled, StepSucceeded
from tideflow.core._ids import item_key
from tideflow.core._state import StepStatus
from tideflow.core.nodes._foreach import MAX_ITEMS


def schedule_foreach(d: Decision, key: str, config: Any, common: dict[str, Any]) -> None:
    """Check the rendered items, then start the first `concurrency` of them."""
    items = config.get("items")
    spec = d.graph.nodes[common["node_id"]]
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        steps.fail_unscheduled(
            d, key, spec, StepRole(common["role"]), common["attempt"], "InvalidItems",
            f"node {spec.id!r}: items must be a list of at most {MAX_ITEMS} values, "
            f"got {type(items).__name__}",
            common,
        )  # fmt: skip
        return
    d.emit(StepScheduled(**common, config=config))
    pump(d, key)


def pump(d: Decision, key: str) -> None:
    """Start items up to the concurrency limit; finish the foreach when all are done."""
    parent = d.state.steps[key]
    if parent.status.terminal:
        return
    items: list[Any] = parent.config["items"]
    limit = int(parent.config.get("concurrency", 10))
    spec = d.context.pinned.item_specs[parent.node_id]
    keys = [item_key(key, i) for i in range(len(items))]
    while True:
        existing = [d.state.steps.get(k) for k in keys]
        active = sum(1 for s in existing if s is not None and not s.status.terminal)
        if d.state.steps[key].status.terminal:
            return
        if all(s is not None and s.status is StepStatus.SUCCEEDED for s in existing):
            outputs = [s.output for s in existing if s is not None]
            attempt = d.state.steps[key].attempt
            d.emit(StepSucceeded(at=d.now, step=key, attempt=attempt, output=outputs))
            attempts.step_succeeded(d, key)
            return
        nxt = next((i for i, s in enumerate(existing) if s is None), None)
        if nxt is None or active >= limit:
            return
        steps.schedule(
            d, keys[nxt], spec, StepRole.ITEM, parent_step=key, index=nxt, item=items[nxt]
        )


def item_of(d: Decision, parent: str | None, index: int | None) -> object:
    """The item a foreach item step works on (None for other steps)."""
    if parent is None or index is None:
        return None
    items = d.state.steps[parent].config["items"]
    return items[index]
