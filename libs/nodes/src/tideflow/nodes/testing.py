"""Test doubles for node handlers: a scripted OpenAI-compatible chat server, a local
Textract, and secrets from a mapping.

`FakeLlmServer` answers `POST /v1/chat/completions` (and `/chat/completions`) on a local
port with the replies it was given, in order (or from a function of the request), and
keeps every request it received, so a test can check what a handler sent: messages,
tools, the API key. `FakeTextract` plays Textract's JSON API and records which key signed
each request for which S3 object. Plain stdlib in a thread: usable from sync and async
tests alike.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Self

BAD_GATEWAY = 500
ENDLESS_BYTES = 1 << 30
"""Where an `endless` answer gives up if the client keeps reading (1 GiB)."""
_CHUNK = b"a" * 65536


@dataclass(frozen=True, slots=True)
class FakeReply:
    """One scripted answer: a message (text and/or tool calls), or an HTTP error status."""

    content: str | None = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Each `{"name": ..., "arguments": {...}}` (an id is made up when missing)."""
    status: int = 200
    error: str = "scripted error"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    delay_s: float = 0.0
    """Wait this long before answering (to provoke client timeouts)."""
    body_bytes: int = 0
    """Pad the answer's text so the body is at least this many bytes (declared in
    `Content-Length`): a provider answering a huge body."""
    endless: bool = False
    """Answer 200 with a body that never ends and declares no length (a broken or
    hostile provider); it stops when the client hangs up, or after ENDLESS_BYTES."""


Responder = Callable[[dict[str, Any]], FakeReply]


@dataclass
class FakeLlmServer:
    """`with FakeLlmServer([FakeReply("hi")]) as llm:` then `apiBase: llm.url`."""

    replies: list[FakeReply] = field(default_factory=list)
    responder: Responder | None = None
    model: str = "fake-model"
    requests: list[dict[str, Any]] = field(default_factory=list)
    endless_sent: int = 0
    """Bytes of the last endless answer written so far (a test reads how far it got)."""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        if self._server is None:
            msg = "start the server first"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = {"path": self.path, "headers": headers, "json": body}
                reply = fake.next_reply(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.endless:
                    self._endless()
                    return
                status, payload = fake.answer(reply, body)
                data = json.dumps(payload).encode()
                if len(data) < reply.body_bytes:
                    payload["choices"][0]["message"]["content"] += "a" * (
                        reply.body_bytes - len(data)
                    )
                    data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _endless(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()  # no length: the body ends when the connection does
                self.close_connection = True
                sent = 0
                try:
                    self.wfile.write(b'{"id": "x", "choices": [{"message": {"content": "')
                    while sent < ENDLESS_BYTES:
                        self.wfile.write(_CHUNK)
                        sent += len(_CHUNK)
                        fake.endless_sent = sent
                except OSError:  # the client hung up: what a capped reader does
                    return

            def log_message(self, *_: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def next_reply(self, request: dict[str, Any]) -> FakeReply:
        with self._lock:
            self.requests.append(request)
            if self.responder is not None:
                return self.responder(request["json"])
            if not self.replies:
                return FakeReply(status=BAD_GATEWAY, error="the fake server ran out of replies")
            return self.replies.pop(0)

    def answer(self, reply: FakeReply, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if reply.status >= 400:  # noqa: PLR2004 - HTTP errors
            return reply.status, {"error": {"message": reply.error, "type": "scripted"}}
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.get("id", f"call_{index}"),
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": json.dumps(call.get("arguments", {})),
                    },
                }
                for index, call in enumerate(reply.tool_calls)
            ]
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }


def invoice_blocks(*, vendor: str, amount: str, page: int = 1) -> list[dict[str, Any]]:
    """Textract blocks of a one-page invoice (as moto's seeded `BLOCKS`): three lines,
    the key-value pairs `Vendor:` and `Total:`, and a two-by-two table."""
    blocks: list[dict[str, Any]] = [{"Id": "page", "BlockType": "PAGE", "Page": page}]
    counter = iter(range(1_000_000))

    def add(prefix: str, block_type: str, text: str, **fields: Any) -> str:
        """A block whose WORD children spell `text`; returns its id."""
        ids = []
        for word in text.split():
            ids.append(f"w{next(counter)}")
            blocks.append(
                {"Id": ids[-1], "BlockType": "WORD", "Text": word, "Page": page, "Confidence": 99}
            )
        ident = f"{prefix}{next(counter)}"
        relations = [{"Type": "CHILD", "Ids": ids}, *fields.pop("relations", [])]
        block = {"Id": ident, "BlockType": block_type, "Page": page, "Relationships": relations}
        blocks.append(block | fields)
        return ident

    for text in ("INVOICE", f"Vendor: {vendor}", f"Total: {amount}"):
        add("l", "LINE", text, Text=text, Confidence=99.1)
    for key, value in (("Vendor:", vendor), ("Total:", amount)):
        value_id = add("v", "KEY_VALUE_SET", value, EntityTypes=["VALUE"], Confidence=95.0)
        add(
            "k", "KEY_VALUE_SET", key, EntityTypes=["KEY"], Confidence=95.0,
            relations=[{"Type": "VALUE", "Ids": [value_id]}],
        )  # fmt: skip
    cells = [
        add("c", "CELL", text, RowIndex=row, ColumnIndex=column)
        for row, texts in enumerate((("Item", "Amount"), ("Consulting", amount)), start=1)
        for column, text in enumerate(texts, start=1)
    ]
    table = {"Id": "table", "BlockType": "TABLE", "Page": page}
    blocks.append(table | {"Relationships": [{"Type": "CHILD", "Ids": cells}]})
    return blocks


class StaticSecrets:
    """A secrets lookup (`SecretLookup`) answering one mapping; with `tenant`, only that
    tenant's lookups (a handler asking for another tenant's secrets fails the test)."""

    def __init__(self, values: dict[str, str], *, tenant: str | None = None) -> None:
        self.values = dict(values)
        self.tenant = tenant

    async def secrets(self, tenant_id: str) -> dict[str, str]:
        if self.tenant is not None and tenant_id != self.tenant:
            msg = f"secrets of tenant {tenant_id!r} asked for; only {self.tenant!r} has any"
            raise AssertionError(msg)
        return self.values


class TextractRequest(NamedTuple):
    """One request `FakeTextract` received."""

    operation: str
    """`DetectDocumentText`, `StartDocumentAnalysis`, `GetDocumentTextDetection`, ..."""
    key_id: str
    """The access key id that signed it (SigV4 `Credential=<id>/...`); "" unsigned."""
    authorization: str
    location: dict[str, Any] | None
    """The S3 object it names (`Document.S3Object` or `DocumentLocation.S3Object`)."""


@dataclass
class FakeTextract:
    """Textract's JSON API on a local port: `with FakeTextract() as textract:`, then
    `endpoint_url=textract.url`.

    Answers as Textract does: `blocks` to detection and analysis, a job id to a start, a
    finished job with `blocks` to a get; with `refuse`, every request gets Textract's
    answer to a bad parameter (400 `InvalidParameterException`), so an attempt ends after
    one request. Every request is kept in `requests`."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False
    requests: list[TextractRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            msg = "start the server first"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def reset(self, *, refuse: bool = False) -> None:
        """Forget the requests received, and answer (or refuse) from now on."""
        self.requests.clear()
        self.refuse = refuse

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                status, answer = fake.answer(
                    self.headers.get("x-amz-target", ""),
                    self.headers.get("authorization", ""),
                    json.loads(self.rfile.read(length) or b"{}"),
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/x-amz-json-1.1")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(
        self, target: str, authorization: str, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Record the request; (status, body) as Textract would answer it."""
        operation = target.removeprefix("Textract.")
        _, _, credential = authorization.partition("Credential=")
        document = request.get("Document") or request.get("DocumentLocation") or {}
        seen = TextractRequest(
            operation, credential.split("/")[0], authorization, document.get("S3Object")
        )
        self.requests.append(seen)
        if self.refuse:
            return 400, {"__type": "InvalidParameterException", "message": "refused"}
        if operation.startswith("Start"):
            return 200, {"JobId": "job-1"}
        if operation.startswith("Get"):
            return 200, {"JobStatus": "SUCCEEDED", "Blocks": self.blocks}
        return 200, {"Blocks": self.blocks}
