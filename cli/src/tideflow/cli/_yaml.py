"""Definition files read as the API will see them: a YAML date or time stays text.

The same rule as `tideflow.core.load_yaml` (a test holds them equal); the CLI keeps its own
copy because client commands such as `tide workflow apply` must not import the core.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

TIMESTAMP = "tag:yaml.org,2002:timestamp"


ALIAS_BUDGET = 1_000_000
"""How much aliases may add to a document, counted in nodes plus scalar characters.

About the largest definition the API takes (1 MiB): a retry policy reused a hundred times
costs thousands, while a billion laughs passes this at its sixth level, long before it
costs memory or time.
"""


class JsonYamlLoader(yaml.SafeLoader):
    """The safe loader without the implicit timestamp rule, and with aliases on a budget.

    PyYAML shares an aliased node instead of copying it, so reading an alias bomb is cheap
    and everything after it (validating, encoding as JSON) pays the whole expansion. Each
    alias is charged the expanded size of the node it names while the document is composed;
    an alias inside the node it names (a cycle no JSON can hold) is refused outright.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.sizes: dict[int, int] = {}  # id of an anchored node -> its expanded size
        self.size = 0  # expanded size composed so far
        self.aliased = 0  # how much of it came from aliases

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, charging aliases for what they expand to."""
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            named = self.anchors.get(event.anchor)
            if named is not None:  # an undefined alias is the composer's own error
                self.charge_alias(event, self.sizes.get(id(named)))
            return super().compose_node(parent, index)
        start = self.size
        node = super().compose_node(parent, index)
        self.size += 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if event.anchor is not None:
            self.sizes[id(node)] = self.size - start
        return node

    def charge_alias(self, event: Any, size: int | None) -> None:
        """Add an alias's expanded size; YAMLError past the budget or for a cycle."""
        if size is None:  # anchored, not yet complete: the alias is inside it
            raise ComposerError(
                None, None, f"alias *{event.anchor} is inside the node it names, which "
                "then contains itself", event.start_mark,
            )  # fmt: skip
        self.size += size
        self.aliased += size
        if self.aliased > ALIAS_BUDGET:
            raise ComposerError(
                None, None, f"aliases expand the document by more than {ALIAS_BUDGET:,} "
                "nodes and characters (an alias bomb?)", event.start_mark,
            )  # fmt: skip


JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """YAML (or JSON) text as plain JSON data; raises yaml.YAMLError when it is not YAML
    or its aliases expand too far."""
    return yaml.load(text, Loader=JsonYamlLoader)  # noqa: S506 - a SafeLoader subclass
