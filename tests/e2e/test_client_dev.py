"""`tideflow.client`, sync and async, against a real `tide dev` (embedded Postgres)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tideflow.client import (
    AsyncClient,
    BadRequestError,
    Client,
    ErrorCode,
    NotFoundError,
    UnauthenticatedError,
    WaitTimeoutError,
)
from tideflow.sdk import Workflow

from .test_cli_dev import Dev

pytestmark = [pytest.mark.e2e]

TOKEN = "dev-test-token"
GATED = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "client-gated"},
    "spec": {
        "nodes": [
            {"id": "go", "type": "signal", "config": {"name": "go"}},
            {"id": "done", "type": "transform",
             "config": {"value": {"got": "{{ nodes.go.output.n }}", "in": "{{ input.x }}"}}},
        ],
        "edges": [{"from": "go", "to": "done"}],
        "output": "{{ nodes.done.output }}",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    server = Dev(tmp_path_factory.mktemp("dev"))
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        assert code == 0, (server.data_dir / "dev.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def tide(dev: Dev) -> Iterator[Client]:
    with Client(dev.url, token=TOKEN) as client:
        client.workflows.apply(GATED, publish=True)
        yield client


def test_start_signal_wait_events_time_travel_replay(tide: Client) -> None:
    run = tide.runs.start("client-gated", {"x": 1}, idempotency_key="client-e2e-1")
    again = tide.runs.start("client-gated", {"x": 1}, idempotency_key="client-e2e-1")
    assert again.run_id == run.run_id
    with pytest.raises(WaitTimeoutError) as waiting:
        tide.runs.wait(run.run_id, timeout=0.5)
    assert waiting.value.run.status in {"pending", "running", "waiting"}
    tide.runs.signal(run.run_id, "go", {"n": 7})
    done = tide.runs.wait(run.run_id, timeout=60)
    assert (done.status, done.output) == ("succeeded", {"got": 7, "in": 1})

    events = tide.runs.all_events(run.run_id)
    assert events[0].type == "RunStarted"
    assert events[-1].type == "RunSucceeded"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    received = next(e.seq for e in events if e.type == "SignalReceived")
    before = tide.runs.state(run.run_id, at_seq=received - 1)
    assert before.at_seq == received - 1
    assert before.status in {"running", "waiting"}

    replay = tide.runs.replay(run.run_id, received - 1, input={"x": 2})
    assert replay.replay_of == run.run_id
    tide.runs.signal(replay.run_id, "go", {"n": 8})
    assert tide.runs.wait(replay.run_id, timeout=60).output == {"got": 8, "in": 2}

    listed = tide.runs.list(workflow_id="client-gated", status="succeeded", limit=500)
    assert {run.run_id, replay.run_id} <= {r.run_id for r in listed.items}


def test_cancel_and_the_typed_errors(tide: Client, dev: Dev) -> None:
    run = tide.runs.start("client-gated", {"x": 1})
    tide.runs.cancel(run.run_id, reason="not needed")
    assert tide.runs.wait(run.run_id, timeout=60).status == "cancelled"

    with pytest.raises(NotFoundError) as missing:
        tide.runs.get("no-such-run")
    assert missing.value.code == ErrorCode.RUN_NOT_FOUND
    fresh = tide.runs.start("client-gated", {"x": 1})
    with pytest.raises(BadRequestError) as unknown:
        tide.runs.signal(fresh.run_id, "nope")
    assert unknown.value.code == ErrorCode.UNKNOWN_SIGNAL
    assert unknown.value.details["awaited"] == ["go"]
    tide.runs.cancel(fresh.run_id)
    bad = {**GATED, "spec": {**GATED["spec"], "edges": [{"from": "go", "to": "nowhere"}]}}
    result = tide.workflows.validate(bad)
    assert not result.valid
    assert "DANGLING_EDGE" in {p.code for p in result.problems}
    with Client(dev.url, token="wrong") as stranger, pytest.raises(UnauthenticatedError) as who:
        stranger.workflows.list()
    assert who.value.code == ErrorCode.UNAUTHENTICATED


def test_workflows_apply_get_list_versions(tide: Client) -> None:
    document: dict[str, Any] = {**GATED, "metadata": {"name": "client-apply"}}
    created = tide.workflows.apply(document, publish=True)
    assert created.action == "created"
    assert created.published is not None
    assert created.published.created
    again = tide.workflows.apply(document, publish=True)
    assert again.action == "unchanged"  # the draft already was the document
    assert again.published is not None
    assert not again.published.created  # unchanged draft: nothing new published
    found = tide.workflows.get("client-apply")
    assert found.definition["metadata"]["name"] == "client-apply"
    assert found.latest_version == created.published.version
    assert "client-apply" in {w.id for w in tide.workflows.list(limit=500).items}
    assert [v.version for v in tide.workflows.versions("client-apply")] == [1]


def test_a_workflow_built_in_python_runs(tide: Client) -> None:
    flow = (
        Workflow("client-built")
        .transform("double", value="{{ input.n * 2 }}")
        .condition("big", expr="nodes.double.output > 10", after="double")
        .log("yes", message="big", after="big", when="true")
        .log("no", message="small", after="big", when="false")
        .output({"doubled": "{{ nodes.double.output }}"})
    )
    tide.workflows.apply(flow, publish=True)
    run = tide.runs.start("client-built", {"n": 21})
    done = tide.runs.wait(run.run_id, timeout=60)
    assert (done.status, done.output) == ("succeeded", {"doubled": 42})
    no = done.step("no")
    assert no is not None
    assert no.status == "skipped"


async def test_the_async_client_decides_an_approval(dev: Dev) -> None:
    async with AsyncClient(dev.url, token=TOKEN) as tide:
        run = await tide.runs.start("order-approval", {"total": 5000})
        deadline = time.monotonic() + 60
        while not (page := await tide.approvals.list(run_id=run.run_id)).items:
            assert time.monotonic() < deadline, "the approval never reached the inbox"
            await asyncio.sleep(0.05)
        [approval] = page.items
        assert approval.title == "Order of 5000"
        decided = await tide.approvals.approve(approval.id, comment="fine")
        assert decided.status == "decided"
        assert decided.decision == "approve"
        done = await tide.runs.wait(run.run_id, timeout=60)
        assert done.status == "succeeded"
        book = done.step("book")
        assert book is not None
        assert book.status == "succeeded"
        with pytest.raises(BadRequestError) as invalid:
            await tide.runs.start("order-approval", {"total": "a lot"})
        assert invalid.value.code == ErrorCode.INPUT_INVALID
