"""YAML read the way JSON and Kubernetes read it: a date or time stays the text it was written as.

PyYAML's safe loader turns `2026-01-01` into a `date` and `2026-01-01T10:00:00` into a
`datetime`; neither is JSON, so a definition file was validated as something else than what
reached the API (which stored `2026-01-01 10:00:00`, not what the file said). Everything
else is the safe loader's.
"""

from __future__ import annotations

from typing import Any

import yaml

TIMESTAMP = "tag:yaml.org,2002:timestamp"


class JsonYamlLoader(yaml.SafeLoader):
    """The safe loader without the implicit timestamp rule."""


JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """YAML (or JSON) text as plain JSON data; raises yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=JsonYamlLoader)  # noqa: S506 - a SafeLoader subclass
