"""Definition files are read as JSON would read them: a date or a time stays its text.

PyYAML's safe loader made `2026-01-01T10:00:00` a datetime: `tide workflow validate` refused
the file (`Input should be a valid string`) while `apply` stored `2026-01-01 10:00:00`.
"""

from __future__ import annotations

import pytest

from tideflow.cli._yaml import load_yaml as cli_load_yaml
from tideflow.core import BUILTIN_NODE_TYPES, load_yaml, validate_definition

pytestmark = pytest.mark.unit

DEFINITION = """\
apiVersion: tideflow.io/v1
kind: Workflow
metadata: {name: dated, annotations: {since: 2026-01-01}}
spec:
  nodes:
    - id: stamp
      type: transform
      config: {value: {when: 2026-01-01T10:00:00, zoned: 2026-01-01 10:00:00+02:00}}
"""


@pytest.mark.parametrize("load", [load_yaml, cli_load_yaml], ids=["core", "cli"])
def test_dates_and_times_stay_as_written(load: object) -> None:
    assert callable(load)
    document = load(DEFINITION)
    assert document["metadata"]["annotations"] == {"since": "2026-01-01"}
    assert document["spec"]["nodes"][0]["config"]["value"] == {
        "when": "2026-01-01T10:00:00",
        "zoned": "2026-01-01 10:00:00+02:00",
    }
    assert validate_definition(document, BUILTIN_NODE_TYPES) == []


@pytest.mark.parametrize(
    "text",
    ["a: 1", "a: 1.5", "a: true", "a: null", "a: ~", "a: 0x1f", "a: [1, 'x']", "a: .inf",
     "a: 2026-01-01", "a: '2026-01-01'", "a: 12:30", "a: yes", '{"a": {"b": [1, 2]}}'],
)  # fmt: skip
def test_the_two_loaders_agree_and_differ_from_pyyaml_only_on_timestamps(text: str) -> None:
    assert load_yaml(text) == cli_load_yaml(text)
