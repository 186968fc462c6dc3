"""Lists never look whole when they are not.

`tide run list` and `tide approval list` stopped at `--limit` without a word and had no way
to the next page; `tide workflow list` showed the first 500 workflows only. Now the first
two say `more: --cursor C` on stderr and take `--cursor`, and the third follows every page.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli import approval as approval_cli
from tideflow.cli import run as run_cli
from tideflow.cli import workflow as workflow_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit

AT = "2026-11-26T10:00:00Z"


def run_item(n: int) -> dict[str, Any]:
    return {"runId": f"r-{n}", "workflowId": "w", "version": 1, "status": "succeeded",
            "startedAt": AT, "endedAt": AT, "parentRunId": None, "replayOf": None}  # fmt: skip


def approval_item(n: int) -> dict[str, Any]:
    return {"id": f"a-{n}", "runId": "r", "nodeId": "approve", "workflowId": "w",
            "assignees": [], "role": "approver", "quorum": 1, "decisions": [],
            "requestedAt": AT, "status": "pending"}  # fmt: skip


def workflow_item(n: int) -> dict[str, Any]:
    return {"id": f"w-{n:04}", "latestVersion": 1, "archived": False, "revision": 1,
            "createdAt": AT, "updatedAt": AT}  # fmt: skip


ITEMS = {"/runs": run_item, "/approvals": approval_item, "/workflows": workflow_item}


def serve(monkeypatch: pytest.MonkeyPatch, total: int) -> list[dict[str, str]]:
    """Every list path pages `total` items by an integer cursor; the queries are kept."""
    queries: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        queries.append({"path": request.url.path, **query})
        start = int(query.get("cursor", "0"))
        end = min(start + int(query.get("limit", "50")), total)
        items = [ITEMS[request.url.path](n) for n in range(start, end)]
        next_cursor = str(end) if end < total else None
        return httpx.Response(200, json={"items": items, "nextCursor": next_cursor})

    def connect(*_args: object, **_kwargs: object) -> Client:
        transport = httpx.MockTransport(answer)
        return Client("http://api.test", transport=transport, retries=Retries())

    for module in (run_cli, workflow_cli):
        monkeypatch.setattr(module, "connect", connect)
    monkeypatch.setattr(approval_cli, "_api", connect)
    return queries


@pytest.mark.parametrize(
    ("app", "args", "first"),
    [(run_cli.app, ["list"], "r-"), (approval_cli.app, ["list"], "a-")],
    ids=["run", "approval"],
)
def test_a_cut_list_says_how_to_go_on(
    monkeypatch: pytest.MonkeyPatch, app: Any, args: list[str], first: str
) -> None:
    serve(monkeypatch, total=5)
    runner = CliRunner()
    cut = runner.invoke(app, [*args, "--limit", "2"])
    assert cut.exit_code == 0, cut.output
    assert [line.split()[0] for line in cut.stdout.splitlines()[1:]] == [f"{first}0", f"{first}1"]
    assert cut.stderr.strip() == "more: --cursor 2"
    rest = runner.invoke(app, [*args, "--limit", "3", "--cursor", "2"])
    assert [line.split()[0] for line in rest.stdout.splitlines()[1:]] == [
        f"{first}2", f"{first}3", f"{first}4"
    ]  # fmt: skip
    assert rest.stderr == ""  # the last page
    as_json = runner.invoke(app, [*args, "--limit", "2", "-o", "json"])
    assert json.loads(as_json.stdout)["nextCursor"] == "2"


def test_workflow_list_shows_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    queries = serve(monkeypatch, total=1_203)
    listed = CliRunner().invoke(workflow_cli.app, ["list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    ids = [item["id"] for item in json.loads(listed.stdout)["items"]]
    assert ids == [f"w-{n:04}" for n in range(1_203)]
    assert [q.get("cursor") for q in queries] == [None, "500", "1000"]


def test_run_list_status_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """`-s waiting -s failed` kept only the last one, silently."""
    queries = serve(monkeypatch, total=1)
    args = ["list", "-s", "waiting", "-s", "failed,cancelled"]
    assert CliRunner().invoke(run_cli.app, args).exit_code == 0
    assert queries[0]["status"] == "waiting,failed,cancelled"
