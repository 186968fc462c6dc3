"""SSE event streams and WebSocket log streams, on a real socket with real Postgres."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tideflow.store import LogLine

pytestmark = pytest.mark.integration


async def live_run(gateway, kit, scheduler):
    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    await gateway.client.post(f"/workflows/{name}/publish")
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    return run


def parse_sse(text: str) -> list[dict[str, str]]:
    frames = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if "data" in fields:
            frames.append(fields)
    return frames


async def read_stream(gateway, run_id: str, headers=None, params=None) -> list[dict[str, str]]:
    async with gateway.client.stream(
        "GET", f"/runs/{run_id}/events/stream", headers=headers, params=params
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join([chunk async for chunk in response.aiter_text()])
    return parse_sse(text)


async def test_stream_of_an_ended_run_sends_everything_and_closes(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    run.complete("fetch", 7)
    await scheduler.flush(run)
    frames = await asyncio.wait_for(read_stream(gateway, run.run_id), 10)
    assert [f["event"] for f in frames] == run.event_types()
    assert [int(f["id"]) for f in frames] == list(range(1, len(run.events) + 1))
    assert json.loads(frames[-1]["data"])["type"] == "RunSucceeded"


async def test_stream_resumes_after_last_event_id(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    run.complete("fetch", 7)
    await scheduler.flush(run)
    frames = await asyncio.wait_for(
        read_stream(gateway, run.run_id, headers={"Last-Event-ID": "2"}), 10
    )
    assert [int(f["id"]) for f in frames] == list(range(3, len(run.events) + 1))
    query = await asyncio.wait_for(read_stream(gateway, run.run_id, params={"afterSeq": 3}), 10)
    assert int(query[0]["id"]) == 4
    # resuming after the final event: nothing left, the stream ends at once
    last = str(len(run.events))
    done = await asyncio.wait_for(
        read_stream(gateway, run.run_id, headers={"Last-Event-ID": last}), 10
    )
    assert done == []
    bad = await gateway.client.get(
        f"/runs/{run.run_id}/events/stream", headers={"Last-Event-ID": "abc"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "BAD_REQUEST"


async def test_stream_follows_a_live_run(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    before = len(run.events)
    received: list[dict[str, str]] = []

    async def follow() -> None:
        async with gateway.client.stream("GET", f"/runs/{run.run_id}/events/stream") as response:
            buffer = ""
            async for chunk in response.aiter_text():
                buffer += chunk
                *blocks, buffer = buffer.split("\n\n")
                received.extend(parse_sse("\n\n".join(blocks)))

    reader = asyncio.create_task(follow())

    async def caught_up() -> bool:
        return len(received) >= before

    await kit.eventually(caught_up)
    assert not reader.done()
    run.complete("fetch", 7)
    await scheduler.flush(run)
    await asyncio.wait_for(reader, 10)
    assert [f["event"] for f in received] == run.event_types()


async def ws_messages(url: str, **kwargs) -> list[dict]:
    messages = []
    async with connect(url, **kwargs) as socket:
        async for raw in socket:
            message = json.loads(raw)
            messages.append(message)
            if message["type"] in {"end", "error"}:
                break
    return messages


def ws_url(gateway, run_id: str, query: str = "") -> str:
    return gateway.url.replace("http", "ws", 1) + f"/runs/{run_id}/logs{query}"


def auth(kit) -> dict:
    return {"additional_headers": {"Authorization": f"Bearer {kit.token}"}}


async def test_logs_without_follow(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    await gateway.store.append_logs(
        [
            LogLine(run.run_id, "fetch", "info", "fetching", attempt=1),
            LogLine(run.run_id, "fetch", "warning", "slow upstream", attempt=1),
        ]
    )
    messages = await asyncio.wait_for(
        ws_messages(ws_url(gateway, run.run_id, "?follow=false"), **auth(kit)), 10
    )
    assert [m["type"] for m in messages] == ["log", "log", "end"]
    assert messages[0]["nodeId"] == "fetch"
    assert messages[0]["attempt"] == 1
    assert messages[1]["level"] == "warning"
    assert messages[1]["message"] == "slow upstream"
    assert messages[0]["ts"]
    only_after = await asyncio.wait_for(
        ws_messages(
            ws_url(gateway, run.run_id, f"?follow=false&afterId={messages[0]['id']}"), **auth(kit)
        ),
        10,
    )
    assert [m.get("message") for m in only_after] == ["slow upstream", None]


async def test_logs_follow_until_the_run_ends(gateway, kit, scheduler):
    run = await live_run(gateway, kit, scheduler)
    await gateway.store.append_logs([LogLine(run.run_id, "fetch", "info", "first")])
    messages: list[dict] = []

    async def follow() -> None:
        # the token in the query string, as a browser sends it
        async with connect(ws_url(gateway, run.run_id, f"?token={kit.token}")) as socket:
            async for raw in socket:
                messages.append(json.loads(raw))
                if messages[-1]["type"] == "end":
                    return

    reader = asyncio.create_task(follow())

    async def got_first() -> bool:
        return len(messages) >= 1

    await kit.eventually(got_first)
    await gateway.store.append_logs([LogLine(run.run_id, "fetch", "info", "second")])

    async def got_second() -> bool:
        return len(messages) >= 2

    await kit.eventually(got_second)
    assert not reader.done()
    run.complete("fetch", 1)
    await scheduler.flush(run)
    await asyncio.wait_for(reader, 10)
    assert [m.get("message") for m in messages] == ["first", "second", None]
    assert messages[-1]["type"] == "end"


async def test_logs_refuse_unknown_runs_and_missing_tokens(gateway, kit):
    unknown = await asyncio.wait_for(ws_messages(ws_url(gateway, "nope"), **auth(kit)), 10)
    assert unknown == [
        {"type": "error", "error": {"code": "RUN_NOT_FOUND", "message": "no run 'nope'"}}
    ]
    anonymous = await asyncio.wait_for(ws_messages(ws_url(gateway, "nope")), 10)
    assert anonymous[0]["error"]["code"] == "UNAUTHENTICATED"


async def test_forged_stream_positions_are_refused_not_internal_errors(gateway, kit, scheduler):
    """A resume point past bigint, or a nodeId holding a NUL (Postgres takes neither),
    reached the store: the log socket closed with 1011 (an internal error) and the event
    stream answered 200 and then broke off, again on every reconnect."""
    run = await live_run(gateway, kit, scheduler)
    huge = await gateway.client.get(
        f"/runs/{run.run_id}/events/stream", headers={"Last-Event-ID": "9" * 23}
    )
    assert huge.status_code == 400, huge.text
    assert huge.json()["error"]["code"] == "BAD_REQUEST"
    for query in ("?afterId=" + "9" * 23, "?nodeId=%00", "?nodeId=a%00b"):
        with pytest.raises(InvalidStatus) as refused:  # refused at the handshake
            await asyncio.wait_for(ws_messages(ws_url(gateway, run.run_id, query), **auth(kit)), 10)
        assert refused.value.response.status_code == 403, query
