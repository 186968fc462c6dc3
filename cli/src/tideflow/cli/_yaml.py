"""Definition files read as the API will see them: a YAML date or time stays text.

The same rule as `tideflow.core.load_yaml` (a test holds them equal); the CLI keeps its own
copy because client commands such as `tide workflow apply` must not import the core.
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
