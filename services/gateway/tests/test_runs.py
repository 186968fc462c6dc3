"""Starting, reading, time travel, replay, cancel and signals, against real Postgres.

The scheduler is simulated (the `scheduler` fixture) by committing the events the core
decides, so the gateway reads real event logs and projections.
"""

from __future__ import annotations

import asyncio
import base64
import json

import asyncpg
import pytest

from tideflow.core import Cancel, Signal
from tideflow.gateway import ErrorCode
from tideflow.store import _outbox_drops as outbox_drops
from tideflow.wire import StartRequest

pytestmark = pytest.mark.integration


async def _no_outbox_row(owner: asyncpg.Connection, run_id: str) -> bool:
    rows = await owner.fetch("SELECT id FROM outbox WHERE key = $1", run_id.encode())
    return not rows


async def published_workflow(gateway, kit, **kwargs) -> str:
    name = kit.unique()
    assert (await gateway.client.post("/workflows", json=kit.definition(name, **kwargs))).is_success
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    return name


async def finished_run(gateway, kit, scheduler):
    """A run that went through fetch (worker), remember (set) and wrap, then succeeded."""
    name = await published_workflow(gateway, kit)
    run = scheduler.run(kit.definition(name))
    run.start({"n": 21})
    await scheduler.flush(run)
    run.complete("fetch", {"value": 42})
    await scheduler.flush(run)
    assert run.state.status == "succeeded"
    return run


async def test_start_records_the_run_and_publishes_start(gateway, kit, dsn):
    name = await published_workflow(gateway, kit)
    response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["workflowId"] == name
    assert run["version"] == 1
    assert run["status"] == "pending"
    assert run["input"] == {"n": 1}
    assert run["steps"] == []

    commands = await gateway.commands(run["runId"])
    assert len(commands) == 1
    start = commands[0]
    assert isinstance(start, StartRequest)
    assert start.command_id == f"{run['runId']}:start"
    assert (start.workflow, start.version, start.input) == (name, 1, {"n": 1})
    # published right away, so the outbox row is dropped and no relay will send it again
    owner = await asyncpg.connect(dsn)
    try:
        await kit.eventually(lambda: _no_outbox_row(owner, run["runId"]))
    finally:
        await owner.close()


@pytest.fixture
def rows_wait_for_a_commit(monkeypatch):
    """Sent outbox rows wait a minute for a commit to take them (before `gateway`)."""
    monkeypatch.setattr(outbox_drops, "LINGER_SECONDS", 60.0)


async def test_a_start_deletes_the_outbox_rows_of_the_starts_before_it(
    rows_wait_for_a_commit, gateway, kit, dsn
):
    name = await published_workflow(gateway, kit)
    owner = await asyncpg.connect(dsn)

    async def start() -> dict:
        response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})
        return response.json()

    try:
        first = await start()
        assert not await _no_outbox_row(owner, first["runId"])  # sent, waiting for a commit
        second = await start()
        assert await _no_outbox_row(owner, first["runId"])  # deleted by the second's commit
        assert not await _no_outbox_row(owner, second["runId"])
    finally:
        await owner.close()


async def test_the_start_answer_is_the_recorded_run(gateway, kit):
    """The 201 body is built without reading the row back, so it must equal the row."""
    name = await published_workflow(gateway, kit)
    started = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 2}, "idempotencyKey": "same-answer"}
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["startedAt"] is not None
    read = await gateway.client.get(f"/runs/{body['runId']}")
    assert read.json() == body
    again = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 2}, "idempotencyKey": "same-answer"}
    )
    assert again.status_code == 200
    assert again.json() == body


async def test_start_pins_a_version(gateway, kit):
    name = await published_workflow(gateway, kit)
    await gateway.client.put(
        f"/workflows/{name}", json=kit.definition(name, with_input_schema=False)
    )
    await gateway.client.post(f"/workflows/{name}/publish")
    latest = await gateway.client.post(f"/workflows/{name}/runs", json={"input": "anything"})
    assert latest.json()["version"] == 2
    pinned = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 3}, "version": 1}
    )
    assert pinned.status_code == 201
    assert pinned.json()["version"] == 1
    missing = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 3}, "version": 7}
    )
    kit.assert_error(missing, 404, ErrorCode.VERSION_NOT_FOUND)


async def test_start_without_a_published_version(gateway, kit):
    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})
    kit.assert_error(response, 409, ErrorCode.NO_PUBLISHED_VERSION)


async def test_start_with_invalid_input(gateway, kit):
    name = await published_workflow(gateway, kit)
    response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": "x"}})
    error = kit.assert_error(response, 422, ErrorCode.INPUT_INVALID)
    assert error["details"]["problems"][0]["path"] == "input.n"
    missing = await gateway.client.post(f"/workflows/{name}/runs", json={})
    kit.assert_error(missing, 422, ErrorCode.INPUT_INVALID)
    unknown_field = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 1}, "bogus": True}
    )
    kit.assert_error(unknown_field, 422, ErrorCode.VALIDATION_FAILED)


async def test_idempotency_key_returns_the_same_run(gateway, kit):
    name = await published_workflow(gateway, kit)
    body = {"input": {"n": 1}, "idempotencyKey": "order-17"}
    first = await gateway.client.post(f"/workflows/{name}/runs", json=body)
    second = await gateway.client.post(f"/workflows/{name}/runs", json=body)
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["runId"] == second.json()["runId"]
    assert second.json()["idempotencyKey"] == "order-17"
    assert len(await gateway.commands(first.json()["runId"])) == 1
    via_runs = await gateway.client.post("/runs", json=body | {"workflowId": name})
    assert via_runs.status_code == 200
    assert via_runs.json()["runId"] == first.json()["runId"]


async def test_post_runs_with_the_workflow_in_the_body(gateway, kit):
    name = await published_workflow(gateway, kit)
    response = await gateway.client.post("/runs", json={"workflowId": name, "input": {"n": 2}})
    assert response.status_code == 201
    assert response.json()["workflowId"] == name
    missing = await gateway.client.post("/runs", json={"workflowId": kit.unique(), "input": {}})
    kit.assert_error(missing, 404, ErrorCode.WORKFLOW_NOT_FOUND)


async def test_get_run_from_projections(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    response = await gateway.client.get(f"/runs/{run.run_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["output"] == {"got": {"value": 42}}
    assert body["startedAt"] is not None
    assert body["endedAt"] is not None
    steps = {s["nodeId"]: s for s in body["steps"]}
    assert set(steps) == {"fetch", "remember", "wrap"}
    assert steps["fetch"]["status"] == "succeeded"
    assert steps["fetch"]["attempt"] == 1
    assert steps["fetch"]["output"] == {"value": 42}


async def test_unknown_run_is_404_everywhere(gateway, kit):
    client = gateway.client
    for response in [
        await client.get("/runs/nope"),
        await client.get("/runs/nope/state", params={"atSeq": 1}),
        await client.get("/runs/nope/events"),
        await client.get("/runs/nope/events/stream"),
        await client.post("/runs/nope/replay", json={"fromSeq": 1}),
        await client.post("/runs/nope/cancel"),
        await client.post("/runs/nope/signals/go", json={"data": 1}),
    ]:
        kit.assert_error(response, 404, ErrorCode.RUN_NOT_FOUND)


async def test_runs_of_another_tenant_are_invisible(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    headers = {"Authorization": "Bearer other-tenant"}
    response = await gateway.client.get(f"/runs/{run.run_id}", headers=headers)
    kit.assert_error(response, 404, ErrorCode.RUN_NOT_FOUND)
    listed = await gateway.client.get("/runs", headers=headers)
    assert run.run_id not in [r["runId"] for r in listed.json()["items"]]


async def test_list_runs_filters_and_pages(gateway, kit, scheduler):
    name = await published_workflow(gateway, kit)
    started = []
    for n in range(3):
        response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": n}})
        started.append(response.json()["runId"])
    done = scheduler.run(kit.definition(name))
    done.start({"n": 9})
    done.complete("fetch", 1)
    await scheduler.flush(done)

    every = await gateway.client.get("/runs", params={"workflowId": name})
    assert {r["runId"] for r in every.json()["items"]} == {*started, done.run_id}
    pending = await gateway.client.get("/runs", params={"workflowId": name, "status": "pending"})
    assert {r["runId"] for r in pending.json()["items"]} == set(started)
    both = await gateway.client.get(
        "/runs", params={"workflowId": name, "status": "pending,succeeded"}
    )
    assert len(both.json()["items"]) == 4

    seen: list[str] = []
    cursor = None
    while True:
        params = {"workflowId": name, "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await gateway.client.get("/runs", params=params)).json()
        seen.extend(r["runId"] for r in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([*started, done.run_id])

    future = await gateway.client.get(
        "/runs", params={"workflowId": name, "startedAfter": "2999-01-01T00:00:00Z"}
    )
    assert future.json()["items"] == []
    past = await gateway.client.get(
        "/runs", params={"workflowId": name, "startedBefore": "2000-01-01T00:00:00Z"}
    )
    assert past.json()["items"] == []

    kit.assert_error(
        await gateway.client.get("/runs", params={"status": "sleeping"}),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    kit.assert_error(
        await gateway.client.get("/runs", params={"startedAfter": "2020-01-01T00:00:00"}),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    kit.assert_error(
        await gateway.client.get("/runs", params={"cursor": "bm9wZQ"}), 400, ErrorCode.BAD_REQUEST
    )


async def test_time_travel(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    types = run.event_types()
    first_success = types.index("StepSucceeded") + 1
    early = await gateway.client.get(f"/runs/{run.run_id}/state", params={"atSeq": 2})
    assert early.status_code == 200, early.text
    body = early.json()
    assert body["atSeq"] == 2
    assert body["status"] == "running"
    steps = {s["nodeId"]: s for s in body["steps"]}
    assert steps["fetch"]["status"] == "scheduled"
    assert steps["wrap"]["status"] == "pending"
    assert body["vars"] == {}

    mid = (
        await gateway.client.get(f"/runs/{run.run_id}/state", params={"atSeq": first_success})
    ).json()
    mid_steps = {s["nodeId"]: s for s in mid["steps"]}
    assert mid_steps["fetch"]["status"] == "succeeded"
    assert mid_steps["fetch"]["output"] == {"value": 42}

    latest = (await gateway.client.get(f"/runs/{run.run_id}/state")).json()
    assert latest["atSeq"] == len(types)
    assert latest["status"] == "succeeded"
    assert latest["vars"] == {"seen": {"value": 42}}
    assert latest["output"] == {"got": {"value": 42}}
    same_shape = (await gateway.client.get(f"/runs/{run.run_id}")).json()
    assert set(same_shape) <= set(latest)

    for bad in (0, len(types) + 1, -1):
        response = await gateway.client.get(f"/runs/{run.run_id}/state", params={"atSeq": bad})
        error = kit.assert_error(response, 422, ErrorCode.SEQ_OUT_OF_RANGE)
        assert error["details"]["lastSeq"] == len(types)


async def test_state_of_a_run_without_events(gateway, kit):
    name = await published_workflow(gateway, kit)
    run = (await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}})).json()
    response = await gateway.client.get(f"/runs/{run['runId']}/state")
    kit.assert_error(response, 422, ErrorCode.SEQ_OUT_OF_RANGE)


async def test_event_history_pages(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    types = run.event_types()
    everything = (await gateway.client.get(f"/runs/{run.run_id}/events")).json()
    assert [e["type"] for e in everything["items"]] == types
    assert [e["seq"] for e in everything["items"]] == list(range(1, len(types) + 1))
    assert everything["nextAfterSeq"] is None
    assert everything["items"][0]["data"]["runId"] == run.run_id

    first = (await gateway.client.get(f"/runs/{run.run_id}/events", params={"limit": 2})).json()
    assert [e["seq"] for e in first["items"]] == [1, 2]
    assert first["nextAfterSeq"] == 2
    rest = (await gateway.client.get(f"/runs/{run.run_id}/events", params={"afterSeq": 2})).json()
    assert rest["items"][0]["seq"] == 3
    kit.assert_error(
        await gateway.client.get(f"/runs/{run.run_id}/events", params={"afterSeq": -1}),
        422,
        ErrorCode.VALIDATION_FAILED,
    )


async def test_replay_from_a_seq(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    from_seq = run.event_types().index("StepSucceeded") + 1
    response = await gateway.client.post(f"/runs/{run.run_id}/replay", json={"fromSeq": from_seq})
    assert response.status_code == 201, response.text
    replayed = response.json()
    assert replayed["replayOf"] == run.run_id
    assert replayed["status"] == "pending"
    assert replayed["version"] == 1
    assert replayed["input"] == {"n": 21}
    [start] = await gateway.commands(replayed["runId"])
    assert isinstance(start, StartRequest)
    assert start.replay_of is not None
    assert (start.replay_of.run_id, start.replay_of.seq) == (run.run_id, from_seq)
    assert start.restored is not None
    assert start.restored.outputs == {"fetch": {"value": 42}}

    listed = await gateway.client.get("/runs", params={"workflowId": run.state.workflow})
    assert replayed["runId"] in [r["runId"] for r in listed.json()["items"]]


async def test_replay_across_a_compensation_runs_the_compensated_steps_again(
    gateway, kit, scheduler
):
    """fromSeq before a compensation: the compensated step's "succeeded" no longer holds
    in the world, so the replay runs it again (and what came after it)."""
    name = kit.unique()
    doc = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "quote", "type": "function", "config": {"name": "quote"}},
                {"id": "reserve", "type": "function", "config": {"name": "reserve"},
                 "compensate": "release"},
                {"id": "ship", "type": "function", "retry": {"maxAttempts": 1},
                 "config": {"name": "ship"}},
                {"id": "release", "type": "function", "config": {"name": "release"}},
            ],
            "edges": [{"from": "quote", "to": "ship"}, {"from": "reserve", "to": "ship"}],
        },
    }  # fmt: skip
    assert (await gateway.client.post("/workflows", json=doc)).is_success
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    run = scheduler.run(doc)
    run.start({"n": 1})
    run.complete("quote", {"price": 10})
    run.complete("reserve", {"slot": "A"})
    from_seq = len(run.events)
    run.fail("ship", "Broken", retryable=False)
    run.complete("reserve.compensate", {"released": "A"})
    await scheduler.flush(run)
    assert run.state.status == "compensated"

    response = await gateway.client.post(f"/runs/{run.run_id}/replay", json={"fromSeq": from_seq})
    assert response.status_code == 201, response.text
    [start] = await gateway.commands(response.json()["runId"])
    assert isinstance(start, StartRequest)
    assert start.restored is not None
    assert start.restored.outputs == {"quote": {"price": 10}}  # reserve runs again


async def test_replay_with_new_input_and_bad_requests(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    response = await gateway.client.post(
        f"/runs/{run.run_id}/replay", json={"fromSeq": 1, "input": {"n": 5}}
    )
    assert response.status_code == 201
    assert response.json()["input"] == {"n": 5}
    invalid = await gateway.client.post(
        f"/runs/{run.run_id}/replay", json={"fromSeq": 1, "input": {"n": "five"}}
    )
    kit.assert_error(invalid, 422, ErrorCode.INPUT_INVALID)
    for seq in (0, len(run.events) + 1):
        out_of_range = await gateway.client.post(
            f"/runs/{run.run_id}/replay", json={"fromSeq": seq}
        )
        kit.assert_error(out_of_range, 422, ErrorCode.SEQ_OUT_OF_RANGE)


async def live_run(gateway, kit, scheduler):
    name = await published_workflow(gateway, kit)
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    return run


async def test_cancel_publishes_a_command(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    response = await gateway.client.post(
        f"/runs/{run.run_id}/cancel", json={"reason": "no longer needed"}
    )
    assert response.status_code == 202, response.text
    [command] = await gateway.commands(run.run_id)
    assert isinstance(command, Cancel)
    assert command.reason == "no longer needed"
    assert command.command_id == response.json()["commandId"]

    without_body = await gateway.client.post(f"/runs/{run.run_id}/cancel")
    assert without_body.status_code == 202

    keyed = [
        await gateway.client.post(f"/runs/{run.run_id}/cancel", json={"idempotencyKey": "k1"})
        for _ in range(2)
    ]
    assert keyed[0].json()["commandId"] == keyed[1].json()["commandId"]


@pytest.mark.parametrize("kind", ["cancel", "fail"])
async def test_a_cancel_or_fail_idempotency_key_is_one_command_and_refuses_another_reason(
    gateway, kit, scheduler, kind
):
    # a key reused with another reason used to be answered 202 (and that reason dropped by
    # the scheduler's dedup of the command id); now it is judged as a signal's key is
    run = await live_run(gateway, kit, scheduler)
    url = f"/runs/{run.run_id}/{kind}"
    body = {"reason": "duplicate order", "idempotencyKey": "stop-1"}
    first, again = [await gateway.client.post(url, json=body) for _ in range(2)]
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert first.json() == again.json()
    [command] = await gateway.commands(run.run_id)  # not sent twice
    assert isinstance(command, Cancel)
    assert (command.reason, command.fail) == ("duplicate order", kind == "fail")

    other = await gateway.client.post(url, json={"reason": "other", "idempotencyKey": "stop-1"})
    error = kit.assert_error(other, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    assert error["details"] == {"runId": run.run_id, "command": kind, "differs": ["reason"]}
    assert len(await gateway.commands(run.run_id)) == 1

    # the command ended the run: its retry still gets the first answer, another reason
    # is still a conflict, and a new key finds the run ended
    run.cancel("duplicate order")
    await scheduler.flush(run)
    assert (await gateway.client.post(url, json=body)).json() == first.json()
    late_other = await gateway.client.post(url, json={"reason": "x", "idempotencyKey": "stop-1"})
    kit.assert_error(late_other, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    late_new = await gateway.client.post(url, json={"reason": "x", "idempotencyKey": "stop-2"})
    kit.assert_error(late_new, 409, ErrorCode.RUN_ALREADY_ENDED)
    assert len(await gateway.commands(run.run_id)) == 1


async def test_signal_publishes_a_command(gateway, kit, scheduler):
    name = kit.unique()
    document = kit.definition(name)
    paid = {"id": "paid", "type": "signal", "config": {"name": "payment-received"}}
    document["spec"]["nodes"].append(paid)
    assert (await gateway.client.post("/workflows", json=document)).is_success
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    run = scheduler.run(document)
    run.start({"n": 1})
    await scheduler.flush(run)
    response = await gateway.client.post(
        f"/runs/{run.run_id}/signals/payment-received", json={"data": {"amount": 12}}
    )
    assert response.status_code == 202, response.text
    [command] = await gateway.commands(run.run_id)
    assert isinstance(command, Signal)
    assert (command.name, command.data) == ("payment-received", {"amount": 12})
    bad_name = await gateway.client.post(f"/runs/{run.run_id}/signals/a b", json={})
    kit.assert_error(bad_name, 422, ErrorCode.VALIDATION_FAILED)
    typo = await gateway.client.post(f"/runs/{run.run_id}/signals/payment-recieved", json={})
    error = kit.assert_error(typo, 422, ErrorCode.UNKNOWN_SIGNAL)
    assert error["details"] == {"signal": "payment-recieved", "awaited": ["payment-received"]}
    assert len(await gateway.commands(run.run_id)) == 1  # nothing sent for the refused one


async def test_a_signal_idempotency_key_is_one_signal_and_refuses_other_data(
    gateway, kit, scheduler
):
    # the key used to be accepted again with any data (202) and the new data dropped by
    # the scheduler's dedup of the command id; now it is judged as a run start's key is
    name = kit.unique()
    document = kit.definition(name)
    document["spec"]["nodes"].append({"id": "go", "type": "signal", "config": {"name": "go"}})
    assert (await gateway.client.post("/workflows", json=document)).is_success
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    run = scheduler.run(document)
    run.start({"n": 1})
    await scheduler.flush(run)
    url = f"/runs/{run.run_id}/signals/go"
    body = {"data": {"b": 1, "a": [1, 2]}, "idempotencyKey": "sig-1"}
    first, again = [await gateway.client.post(url, json=body) for _ in range(2)]
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert first.json() == again.json()
    same_keys_reordered = {"data": {"a": [1, 2], "b": 1}, "idempotencyKey": "sig-1"}
    assert (await gateway.client.post(url, json=same_keys_reordered)).status_code == 202
    assert len(await gateway.commands(run.run_id)) == 1  # nothing sent twice

    other = await gateway.client.post(url, json={"data": {"b": 2}, "idempotencyKey": "sig-1"})
    error = kit.assert_error(other, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    assert error["details"] == {"runId": run.run_id, "signal": "go", "differs": ["data"]}
    assert len(await gateway.commands(run.run_id)) == 1
    other_key = await gateway.client.post(url, json={"data": 2, "idempotencyKey": "sig-2"})
    assert other_key.status_code == 202
    assert len(await gateway.commands(run.run_id)) == 2

    # once the run ended (here: cancelled), a retry of a sent signal still gets its answer;
    # other data under its key is still a conflict, and a new key finds the run ended
    run.cancel("done")
    await scheduler.flush(run)
    assert (await gateway.store.get_run(run.run_id)).status == "cancelled"
    assert (await gateway.client.post(url, json=body)).json() == first.json()
    late_other = await gateway.client.post(url, json={"data": 3, "idempotencyKey": "sig-1"})
    kit.assert_error(late_other, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    late_new = await gateway.client.post(url, json={"data": 3, "idempotencyKey": "sig-3"})
    kit.assert_error(late_new, 409, ErrorCode.RUN_ALREADY_ENDED)
    assert len(await gateway.commands(run.run_id)) == 2


async def test_a_signal_whose_send_failed_is_sent_by_its_retry(gateway, kit, scheduler):
    from tideflow.bus import BusError

    name = kit.unique()
    document = kit.definition(name)
    document["spec"]["nodes"].append({"id": "go", "type": "signal", "config": {"name": "go"}})
    assert (await gateway.client.post("/workflows", json=document)).is_success
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    run = scheduler.run(document)
    run.start({"n": 1})
    await scheduler.flush(run)
    publish = gateway.bus.publish_batch

    async def down(*_args, **_kwargs):
        raise BusError("down")

    gateway.bus.publish_batch = down
    try:
        body = {"data": 1, "idempotencyKey": "retry-me"}
        failed = await gateway.client.post(f"/runs/{run.run_id}/signals/go", json=body)
        kit.assert_error(failed, 503, ErrorCode.UNAVAILABLE)
    finally:
        gateway.bus.publish_batch = publish
    retried = await gateway.client.post(f"/runs/{run.run_id}/signals/go", json=body)
    assert retried.status_code == 202, retried.text
    [command] = await gateway.commands(run.run_id)
    assert command.data == 1


async def test_a_signal_to_a_run_without_signal_nodes_is_refused(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    response = await gateway.client.post(f"/runs/{run.run_id}/signals/go", json={"data": 1})
    error = kit.assert_error(response, 422, ErrorCode.UNKNOWN_SIGNAL)
    assert "waits for no signal" in error["message"]
    assert await gateway.commands(run.run_id) == []


async def test_commands_to_an_ended_run_conflict(gateway, kit, scheduler):
    run = await finished_run(gateway, kit, scheduler)
    cancel = await gateway.client.post(f"/runs/{run.run_id}/cancel")
    error = kit.assert_error(cancel, 409, ErrorCode.RUN_ALREADY_ENDED)
    assert error["details"]["status"] == "succeeded"
    signal = await gateway.client.post(f"/runs/{run.run_id}/signals/go", json={"data": None})
    kit.assert_error(signal, 409, ErrorCode.RUN_ALREADY_ENDED)
    assert await gateway.commands(run.run_id) == []


async def test_time_travel_folds_off_the_event_loop(gateway, kit, scheduler, monkeypatch):
    # folding a 10,000-item run took 15 s; on the event loop it held up every request and,
    # under `tide dev`, every other run. The fold here only ends once the loop has run.
    import threading

    from tideflow.gateway import runs

    run = await finished_run(gateway, kit, scheduler)
    fold_started, loop_ran = threading.Event(), threading.Event()
    fold = runs.state_at

    def waiting_fold(events, seq):
        fold_started.set()
        assert loop_ran.wait(timeout=10), "the fold blocked the event loop"
        return fold(events, seq)

    async def on_the_loop_while_folding():
        deadline = asyncio.get_running_loop().time() + 10
        while not fold_started.is_set() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.001)
        loop_ran.set()

    monkeypatch.setattr(runs, "state_at", waiting_fold)
    answer, _ = await asyncio.gather(
        gateway.client.get(f"/runs/{run.run_id}/state"), on_the_loop_while_folding()
    )
    assert answer.status_code == 200, answer.text


def _cursor(value: object) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        {"s": "0001-01-01T00:00:00+14:00", "r": "x"},  # before year 1 once in UTC
        {"s": "9999-12-31T23:59:59-14:00", "r": "x"},  # after year 9999 once in UTC
        {"s": "2026-01-01T00:00:00+00:00", "r": "a\u0000b"},  # Postgres refuses NUL
        {"s": "2026-01-01T00:00:00+00:00", "r": "\ud800"},  # not encodable as UTF-8
    ],
)
async def test_a_forged_cursor_is_400_not_500(gateway, kit, value):
    """A cursor is opaque but comes back from the client: one whose time leaves the
    datetime range in UTC, or whose id Postgres cannot take, was a 500."""
    kit.assert_error(
        await gateway.client.get("/runs", params={"cursor": _cursor(value)}),
        400,
        ErrorCode.BAD_REQUEST,
    )
    if value["r"] != "x":  # the same id as a workflow list's cursor
        kit.assert_error(
            await gateway.client.get("/workflows", params={"cursor": _cursor(value["r"])}),
            400,
            ErrorCode.BAD_REQUEST,
        )
    kit.assert_error(  # an audit cursor past bigint
        await gateway.client.get("/audit", params={"cursor": _cursor(2**64)}),
        400,
        ErrorCode.BAD_REQUEST,
    )
