"""The sync client is generated from the asyncio one, so the two cannot drift apart.

Each endpoint is described once, in `_async.py`; `scripts/unasync_client.py` derives
`_sync.py`. This fails when `_sync.py` was edited by hand or `_async.py` changed without
running the script, and when a rewrite rule no longer matches (an asyncio name would leak).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[3] / "scripts/unasync_client.py"


@pytest.fixture(scope="module")
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_client", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unasync_client", module)
    spec.loader.exec_module(module)
    return module


def test_the_sync_client_is_what_the_async_one_derives(unasync: ModuleType) -> None:
    assert unasync.TARGET.read_text() == unasync.render(), (
        "libs/client/src/tideflow/client/_sync.py is stale: run scripts/unasync_client.py"
    )


def test_no_asyncio_name_survives(unasync: ModuleType) -> None:
    derived = unasync.unasync(unasync.SOURCE.read_text())
    for word in ("async ", "await ", "asyncio", "AsyncClient", "aclose", "__aenter__"):
        assert word not in derived


def test_a_rule_that_no_longer_matches_is_an_error(unasync: ModuleType) -> None:
    with pytest.raises(ValueError, match="no longer matches"):
        unasync.unasync('"""doc"""\nimport asyncio\n')
