"""Hostile input at the edge: sizes, depth, idempotency conflicts, odd credentials and times.

Each case is refused with its documented status and stable code before anything is
stored; none may answer 5xx. Oversized bodies are sent over a raw socket to prove they
are refused from the headers or while streaming, not after 50 MB were read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tideflow.gateway import ErrorCode
from tideflow.settings import LimitsSettings

pytestmark = pytest.mark.integration

LIMITS = LimitsSettings()
FIFTY_MB = 50 * 1024 * 1024


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


def deep_body(field: str, depth: int) -> dict[str, Any]:
    """Request kwargs for `{field: <depth levels>}`, encoded by hand (encoders stop early)."""
    text = f'{{"{field}": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


async def published(gateway, kit, **kwargs: Any) -> str:
    name = kit.unique()
    doc = kit.definition(name, **kwargs)
    assert (await gateway.client.post("/workflows", json=doc)).status_code == 201
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    return name


async def raw_post(url: str, path: str, head: dict[str, str], chunks: Any) -> tuple[int, int, Any]:
    """POST over a raw socket: (status, bytes sent before the server answered, JSON body)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    try:
        for chunk in chunks:
            if answer.done():
                break
            writer.write(chunk)
            sent += len(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
        response_head = (await asyncio.wait_for(answer, 10)).decode()
        length = next(
            int(line.split(":", 1)[1])
            for line in response_head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        try:
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 10))
        except ConnectionError:
            body = None  # the server closed on the rest of our upload: a reset may win
    finally:
        writer.close()
    return int(response_head.split()[1]), sent, body


async def test_a_declared_50mb_body_is_refused_from_its_headers(gateway, kit):
    head = {
        "Authorization": f"Bearer {kit.token}",
        "Content-Type": "application/json",
        "Content-Length": str(FIFTY_MB),
    }
    status, sent, body = await raw_post(gateway.url, "/workflows", head, [])
    assert status == 413
    assert sent == 0
    assert body["error"]["code"] == ErrorCode.PAYLOAD_TOO_LARGE
    assert body["error"]["details"] == {"limit": LIMITS.request_bytes, "size": FIFTY_MB}


async def test_a_streamed_body_is_refused_once_it_passes_the_limit(gateway, kit):
    chunk = b"[" + b"0," * (512 * 1024) + b"0]"

    def chunks() -> Any:
        for _ in range(FIFTY_MB // len(chunk)):
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    head = {
        "Authorization": f"Bearer {kit.token}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    status, sent, body = await raw_post(gateway.url, "/runs", head, chunks())
    assert status == 413
    assert body is None or body["error"]["code"] == ErrorCode.PAYLOAD_TOO_LARGE
    assert sent < FIFTY_MB / 2  # refused while streaming, long before the end


@pytest.mark.parametrize("depth", [LIMITS.json_depth + 2, 260, 5000])
async def test_deep_input_and_signals_are_422(gateway, kit, scheduler, depth):
    name = await published(gateway, kit, with_input_schema=False)
    response = await gateway.client.post(f"/workflows/{name}/runs", **deep_body("input", depth))
    kit.assert_error(response, 422, ErrorCode.JSON_TOO_DEEP)
    listed = await gateway.client.get("/runs", params={"workflowId": name})
    assert listed.json()["items"] == []  # nothing was started
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    response = await gateway.client.post(
        f"/runs/{run.run_id}/signals/go", **deep_body("data", depth)
    )
    kit.assert_error(response, 422, ErrorCode.JSON_TOO_DEEP)
    assert await gateway.commands(run.run_id) == []


async def test_input_just_under_the_depth_limit_is_accepted(gateway, kit):
    name = await published(gateway, kit, with_input_schema=False)
    # the body nests 2 levels around the input ({"input": ...})
    value = nested(LIMITS.json_depth - 1)
    response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": value})
    assert response.status_code == 201, response.text


async def test_definition_size_and_node_count(gateway, kit):
    name = kit.unique()
    doc = kit.definition(name)
    doc["spec"]["nodes"] += [
        {"id": f"n{i}", "type": "log", "config": {"message": "x"}}
        for i in range(LIMITS.definition_nodes)
    ]
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=doc), 413, ErrorCode.DEFINITION_TOO_LARGE
    )
    assert error["details"]["limit"] == LIMITS.definition_nodes
    doc = kit.definition(name)
    doc["metadata"]["description"] = "x" * LIMITS.definition_bytes
    kit.assert_error(
        await gateway.client.post("/workflows", json=doc), 413, ErrorCode.DEFINITION_TOO_LARGE
    )
    assert (await gateway.client.get(f"/workflows/{name}")).status_code == 404


async def test_input_and_signal_sizes(gateway, kit, scheduler):
    name = await published(gateway, kit, with_input_schema=False)
    big = {"blob": "x" * LIMITS.input_bytes}
    response = await gateway.client.post(f"/workflows/{name}/runs", json={"input": big})
    kit.assert_error(response, 413, ErrorCode.INPUT_TOO_LARGE)
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    data = "x" * LIMITS.signal_bytes
    response = await gateway.client.post(f"/runs/{run.run_id}/signals/go", json={"data": data})
    kit.assert_error(response, 413, ErrorCode.SIGNAL_TOO_LARGE)


async def test_same_idempotency_key_with_other_input_or_version_conflicts(gateway, kit):
    name = await published(gateway, kit)
    first = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 1}, "idempotencyKey": "k1"}
    )
    assert first.status_code == 201
    # same input, keys reordered and version implied: the same run
    again = await gateway.client.post(
        f"/workflows/{name}/runs", json={"idempotencyKey": "k1", "input": {"n": 1}, "version": 1}
    )
    assert again.status_code == 200
    assert again.json()["runId"] == first.json()["runId"]
    other_input = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 2}, "idempotencyKey": "k1"}
    )
    error = kit.assert_error(other_input, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    assert error["details"]["runId"] == first.json()["runId"]
    assert error["details"]["differs"] == ["input"]
    changed = kit.definition(name, with_input_schema=False)  # an unchanged draft adds nothing
    assert (await gateway.client.put(f"/workflows/{name}", json=changed)).status_code == 200
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201
    other_version = await gateway.client.post(
        f"/workflows/{name}/runs", json={"input": {"n": 1}, "idempotencyKey": "k1", "version": 2}
    )
    error = kit.assert_error(other_version, 409, ErrorCode.IDEMPOTENCY_CONFLICT)
    assert error["details"]["differs"] == ["version"]
    via_runs = await gateway.client.post(
        "/runs", json={"workflowId": name, "input": {"n": True}, "idempotencyKey": "k1"}
    )
    kit.assert_error(via_runs, 409, ErrorCode.IDEMPOTENCY_CONFLICT)


@pytest.mark.parametrize("credential", ["Bearer tést", "Bearer \u00ff\u00fe", "Bäarer x"])
async def test_non_ascii_credentials_are_401(gateway, kit, credential):
    for path in ("/workflows", "/runs", "/runs/abc", "/workflows/x/versions"):
        response = await gateway.client.get(path, headers={"Authorization": credential.encode()})
        kit.assert_error(response, 401, ErrorCode.UNAUTHENTICATED)


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2025-01-01T00:00:00"]
)
async def test_times_outside_utc_are_422(gateway, kit, value):
    for name in ("startedAfter", "startedBefore"):
        response = await gateway.client.get("/runs", params={name: value})
        kit.assert_error(response, 422, ErrorCode.VALIDATION_FAILED)


async def test_run_answers_stay_bounded_and_link_the_whole_values(gateway, kit, scheduler):
    name = await published(gateway, kit)
    big = {"rows": ["x" * 1000 for _ in range(300)]}  # ~300 KB, over the 64 KiB per value
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    run.complete("fetch", big)
    await scheduler.flush(run)
    assert run.state.status == "succeeded"

    answer = await gateway.client.get(f"/runs/{run.run_id}")
    assert answer.status_code == 200
    assert len(answer.content) < 2 * LIMITS.view_value_bytes
    body = answer.json()
    assert body["input"] == {"n": 1}  # small values are shown as they are
    marker = body["output"]["$truncated"]
    assert marker["bytes"] > LIMITS.view_value_bytes
    assert marker["preview"].startswith('{"got":')
    whole = await gateway.client.get(marker["href"])
    assert whole.status_code == 200, whole.text
    assert whole.json()["value"] == {"got": big}
    # the store measures the database's JSON text (with spaces), the API the compact one
    assert 0.9 < whole.json()["bytes"] / marker["bytes"] <= 1
    fetch = next(s for s in body["steps"] if s["nodeId"] == "fetch")
    step_whole = await gateway.client.get(fetch["output"]["$truncated"]["href"])
    assert step_whole.json()["value"] == big

    state = await gateway.client.get(f"/runs/{run.run_id}/state", params={"atSeq": 6})
    assert len(state.content) < 3 * LIMITS.view_value_bytes
    seen = state.json()["vars"]["$truncated"]
    assert "atSeq=6" in seen["href"]
    assert (await gateway.client.get(seen["href"])).json()["value"] == {"seen": big}

    events = await gateway.client.get(f"/runs/{run.run_id}/events")
    assert len(events.content) < 4 * LIMITS.view_value_bytes
    assert any("$truncated" in e["data"] for e in events.json()["items"])


async def test_value_links_refuse_what_does_not_exist(gateway, kit, scheduler):
    name = await published(gateway, kit)
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    url = f"/runs/{run.run_id}/value"
    missing = await gateway.client.get(url, params={"field": "output", "nodeId": "nope"})
    kit.assert_error(missing, 404, ErrorCode.STEP_NOT_FOUND)
    bad_field = await gateway.client.get(url, params={"field": "secrets"})
    kit.assert_error(bad_field, 422, ErrorCode.VALIDATION_FAILED)
    out_of_range = await gateway.client.get(url, params={"field": "input", "atSeq": 99})
    kit.assert_error(out_of_range, 422, ErrorCode.SEQ_OUT_OF_RANGE)
    assert (await gateway.client.get(url, params={"field": "input"})).json()["value"] == {"n": 1}
    other = await gateway.client.get(
        url, params={"field": "input"}, headers={"Authorization": "Bearer other-tenant"}
    )
    kit.assert_error(other, 404, ErrorCode.RUN_NOT_FOUND)


def test_the_budget_of_one_answer_is_spent_in_order():
    from tideflow.gateway.budget import ValueBudget

    budget = ValueBudget(LimitsSettings(view_value_bytes=1000, view_bytes=2500))
    values = [{"v": "x" * 900} for _ in range(4)]
    shown = [budget.fit(v, f"/v/{i}") for i, v in enumerate(values)]
    assert shown[:2] == values[:2]
    assert shown[2]["$truncated"]["href"] == "/v/2"
    assert shown[3]["$truncated"]["bytes"] == len('{"v":""}') + 900
    assert budget.fit(None, None) is None
    assert budget.fit(7, None) == 7


@pytest.mark.parametrize(
    "value",
    [b"NaN", b"-Infinity", b'{"a": Infinity}', b"1e400", b"1" * 400, b'"\\ud800"'],
)
async def test_numbers_and_strings_json_cannot_hold_are_422(gateway, kit, scheduler, value):
    name = await published(gateway, kit, with_input_schema=False)
    headers = {"Content-Type": "application/json"}
    body = b'{"input": ' + value + b"}"
    response = await gateway.client.post(f"/workflows/{name}/runs", content=body, headers=headers)
    error = kit.assert_error(response, 422, ErrorCode.VALIDATION_FAILED)
    assert error["details"]["problems"][0]["type"] == "json_invalid"
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    signal = b'{"data": ' + value + b"}"
    response = await gateway.client.post(
        f"/runs/{run.run_id}/signals/go", content=signal, headers=headers
    )
    kit.assert_error(response, 422, ErrorCode.VALIDATION_FAILED)


async def test_an_integer_beyond_64_bits_is_read_as_a_number(gateway, kit):
    name = await published(gateway, kit, with_input_schema=False)
    body = b'{"input": {"n": 18446744073709551616}}'
    response = await gateway.client.post(
        f"/workflows/{name}/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["input"] == {"n": 18446744073709551616.0}


@pytest.mark.parametrize("path", ["/workflows", "/runs", "/auth/tokens", "/auth/login"])
async def test_nul_characters_are_refused_on_every_route(gateway, kit, path):
    body = {"input": {"a": ["ok", "b\x00"]}, "name": "x\x00", "password": "\x00"}
    response = await gateway.client.post(path, json=body)
    error = kit.assert_error(response, 422, ErrorCode.VALIDATION_FAILED)
    assert error["details"]["problems"][0]["type"] == "nul"
    escaped = await gateway.client.post(
        "/runs",
        content=b'{"workflowId": "nope", "input": "\\\\u0000"}',  # a backslash, then "u0000"
        headers={"Content-Type": "application/json"},
    )
    kit.assert_error(escaped, 404, ErrorCode.WORKFLOW_NOT_FOUND)


@pytest.mark.parametrize(
    ("headers", "media"),
    [
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "application/x-www-form-urlencoded",
        ),
        ({"Content-Type": "text/plain; charset=utf-8"}, "text/plain"),
        ({"Content-Type": "application/xml"}, "application/xml"),
        ({}, "no Content-Type"),
    ],
    ids=["curl -d", "text", "xml", "none"],
)
async def test_a_body_not_sent_as_json_is_415_with_the_fix(gateway, kit, scheduler, headers, media):
    """`curl -d '{...}'` (form-encoded) answered 422 "Input should be a valid dictionary",
    which does not say the fix; nothing is started."""
    name = await published(gateway, kit, with_input_schema=False)
    body = json.dumps({"workflowId": name, "input": {"n": 1}}).encode()
    for path in ("/runs", f"/workflows/{name}/runs"):
        response = await gateway.client.post(path, content=body, headers=headers)
        error = kit.assert_error(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
        assert "Content-Type: application/json" in error["message"]
        assert error["details"] == {"contentType": media, "expected": "application/json"}
    listed = await gateway.client.get("/runs", params={"workflowId": name})
    assert listed.json()["items"] == []
    missing = await gateway.client.post(f"/workflows/{name}/runs", headers=headers)
    kit.assert_error(missing, 422, ErrorCode.VALIDATION_FAILED)  # no body: still "missing"
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    started = await gateway.client.post("/runs", content=body, headers=json_type)
    assert started.status_code == 201, started.text
