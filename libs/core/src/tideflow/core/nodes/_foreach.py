"""`foreach`: run one node spec per item of a list, `concurrency` at a time.

The child spec may be any inline or dispatched type; its templates see `item` and
`index`. The output is the list of child outputs in item order.
"""

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from tideflow.core._cel import Scope
from tideflow.core._definition import RetryPolicy
from tideflow.core._durations import Duration
from tideflow.core._templates import iter_expressions
from tideflow.core.nodes._base import Execution, ExpressionSite, NodeConfig, NodeType

MAX_ITEMS = 10_000


class ForeachChild(NodeConfig):
    """The node run per item (no id or edges: it lives inside the foreach)."""

    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    queue: str | None = None


class ForeachConfig(NodeConfig):
    """`items` is a template yielding a list (at most 10,000 items)."""

    items: Any
    node: ForeachChild
    concurrency: int = Field(default=10, ge=1, le=1000)


def _sites(config: dict[str, Any]) -> Iterator[ExpressionSite]:
    for path, source, whole in iter_expressions(config.get("items"), ("items",)):
        yield ExpressionSite(path, source, Scope.RUN, whole, secrets_allowed=False)
    node = config.get("node")
    if isinstance(node, dict):
        for path, source, whole in iter_expressions(node.get("config", {}), ("node", "config")):
            yield ExpressionSite(path, source, Scope.ITEM, whole, secrets_allowed=True)


NODE_TYPE = NodeType(
    name="foreach",
    execution=Execution.FOREACH,
    config_model=ForeachConfig,
    description="Run a node once per item of a list.",
    custom_sites=_sites,
)
