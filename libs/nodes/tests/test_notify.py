"""`notify` nodes: webhooks signed as the trigger service checks them, Slack-compatible
webhooks, and email through a local SMTP server (aiosmtpd), with login and refusals."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tideflow.core import ProblemCode, WebhookScheme, validate_definition
from tideflow.nodes import EgressPolicy, NotifyHandler, StepFailure, StepSuccess, TaskSpec
from tideflow.trigger.signatures import verify

from .test_database import Secrets

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
SECRETS = Secrets({"hook": "s3cr3t", "smtp_pw": "pw", "slack_url": ""})


ANSWERS = {"big": b"x" * (1024 * 1024), "bomb": gzip.compress(b"\0" * (8 * 1024 * 1024))}
"""Long answers of a receiver: 1 MiB, and 8 MiB gzipped into about 8 KiB."""


class Receiver:
    """Answers each POST with the status its path names (`/200`, `/429`, ...; `/200-big`
    and `/200-bomb` with a long answer)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                status, _, size = self.path.strip("/").partition("-")
                answer = ANSWERS.get(size, b"ok")
                self.send_response(int(status))
                if size == "bomb":
                    self.send_header("content-encoding", "gzip")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:  # the client read the start and hung up
                    return

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, bytes]] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, _server: object, _session: Session, envelope: Envelope, address: str, _: object
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: object, _session: Session, envelope: Envelope
    ) -> str:
        self.messages.append((envelope, bytes(envelope.content or b"")))
        return "250 Message accepted"


def authenticate(_server: object, _session: Session, _envelope: Envelope, mechanism: str,
                 data: Any) -> AuthResult:  # fmt: skip
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bot", b"pw")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    yield controller, mailbox
    controller.stop()


def task(config: dict[str, Any], *, key: str | None = None) -> TaskSpec:
    return TaskSpec("run-7", "tell", 2, "notify", config, timeout=timedelta(seconds=10),
                    idempotency_key=key)  # fmt: skip


async def test_webhook_is_signed_like_inbound_webhooks(receiver: Receiver) -> None:
    handler = NotifyHandler(policy=LOCAL, secrets=SECRETS)
    payload = {"invoice": "INV-1", "amount": 12.5}
    outcome = await handler.run(task({"channel": "webhook", "url": f"{receiver.url}/200",
                                      "payload": payload, "signingSecret": "hook",
                                      "headers": {"X-Env": "test"}}))  # fmt: skip
    await handler.aclose()
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output == {"channel": "webhook", "status": 200, "deliveryId": "run-7:tell"}
    _, headers, body = receiver.requests[-1]
    assert json.loads(body) == payload
    assert headers["X-Env"] == "test"
    verified = verify(WebhookScheme.TIDEFLOW, "s3cr3t", headers, body,
                      now=datetime.now(UTC), tolerance=timedelta(minutes=5))  # fmt: skip
    assert verified.delivery_id == "run-7:tell"


@pytest.mark.parametrize("size", ["big", "bomb"])
async def test_a_long_answer_under_the_smallest_response_cap_is_still_a_delivery(
    receiver: Receiver, size: str
) -> None:
    """The transport's response cap at its floor (64 KiB) is not a failure for a receiver
    that answers a long page: notify reads only the start, so the notification is sent
    once and the step succeeds (a refusal would be retried: a second notification)."""
    handler = NotifyHandler(policy=LOCAL, secrets=SECRETS, response_bytes=64 * 1024)
    before = len(receiver.requests)
    try:
        outcome = await handler.run(task({"channel": "webhook", "url": f"{receiver.url}/200-{size}",
                                          "payload": {"n": 1}}))  # fmt: skip
    finally:
        await handler.aclose()
    assert isinstance(outcome, StepSuccess), outcome
    assert len(receiver.requests) == before + 1


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (404, False)])
async def test_webhook_status_decides_retry(receiver: Receiver, status: int,
                                            retryable: bool) -> None:  # fmt: skip
    handler = NotifyHandler(policy=LOCAL, secrets=SECRETS)
    outcome = await handler.run(task({"channel": "webhook", "url": f"{receiver.url}/{status}"}))
    await handler.aclose()
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (f"Notify{status}", retryable)


async def test_slack_message_from_a_secret_url(receiver: Receiver) -> None:
    secrets = Secrets({"slack_url": f"{receiver.url}/200"})
    handler = NotifyHandler(policy=LOCAL, secrets=secrets)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*INV-1* saved"}}]
    outcome = await handler.run(task({"channel": "slack", "webhookSecret": "slack_url",
                                      "text": "INV-1 saved", "blocks": blocks}))  # fmt: skip
    assert isinstance(outcome, StepSuccess), outcome
    assert json.loads(receiver.requests[-1][2]) == {"text": "INV-1 saved", "blocks": blocks}
    missing = await handler.run(task({"channel": "slack", "webhookSecret": "nope", "text": "x"}))
    await handler.aclose()
    assert isinstance(missing, StepFailure)
    assert (missing.error_type, missing.retryable) == ("SecretNotFound", False)


def mail(port: int, **more: Any) -> dict[str, Any]:
    return {"channel": "email", "from": "tideflow@example.com", "to": ["ap@example.com"],
            "cc": ["boss@example.com"], "subject": "Invoice INV-1 saved",
            "text": "Amount: 12.50 EUR", "html": "<p>Amount: <b>12.50</b> EUR</p>",
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                     "username": "bot", "passwordSecret": "smtp_pw"}} | more  # fmt: skip


async def test_email_is_sent_with_login(smtp: tuple[Controller, Mailbox]) -> None:
    controller, mailbox = smtp
    handler = NotifyHandler(policy=LOCAL, secrets=SECRETS)
    outcome = await handler.run(task(mail(controller.port)))
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output["accepted"] == ["ap@example.com", "boss@example.com"]
    envelope, raw = mailbox.messages[-1]
    assert envelope.mail_from == "tideflow@example.com"
    parsed = message_from_bytes(raw)
    assert parsed["Subject"] == "Invoice INV-1 saved"
    assert parsed["Message-ID"] == outcome.output["messageId"]
    assert parsed.is_multipart()
    again = await handler.run(task(mail(controller.port)))
    assert isinstance(again, StepSuccess)
    assert again.output["messageId"] == outcome.output["messageId"]  # the same on a retry
    await handler.aclose()


async def test_email_failures(smtp: tuple[Controller, Mailbox]) -> None:
    controller, _ = smtp
    handler = NotifyHandler(policy=LOCAL, secrets=Secrets({"smtp_pw": "wrong"}))
    bad_login = await handler.run(task(mail(controller.port)))
    assert isinstance(bad_login, StepFailure)
    assert (bad_login.error_type, bad_login.retryable) == ("SmtpAuthenticationError", False)
    good = NotifyHandler(policy=LOCAL, secrets=SECRETS)
    refused = await good.run(task(mail(controller.port, to=["nobody@example.com"], cc=[])))
    assert isinstance(refused, StepFailure)
    assert (refused.error_type, refused.retryable) == ("SmtpRecipientsRefused", False)
    down = await good.run(task(mail(9, smtp={"host": "127.0.0.1", "port": 9,
                                             "security": "none"})))  # fmt: skip
    assert isinstance(down, StepFailure)
    assert (down.error_type, down.retryable) == ("SmtpConnectionError", True)
    strict = NotifyHandler(policy=EgressPolicy(), secrets=SECRETS)
    denied = await strict.run(task(mail(controller.port)))
    assert isinstance(denied, StepFailure)
    assert (denied.error_type, denied.retryable) == ("EgressDenied", False)
    for handler_ in (handler, good, strict):
        await handler_.aclose()


@pytest.mark.parametrize(
    "config",
    [
        {"channel": "webhook"},
        {"channel": "slack", "text": "x"},
        {"channel": "email", "to": ["a@b"], "subject": "s", "text": "t"},
        {"channel": "pager"},
    ],
)
def test_bad_config_names_the_node(config: dict[str, Any]) -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "n"},
        "spec": {"nodes": [{"id": "tell", "type": "notify", "config": config}]},
    }  # fmt: skip
    problems = validate_definition(definition)
    assert problems
    assert all(p.code is ProblemCode.INVALID_CONFIG and p.node == "tell" for p in problems)


@pytest.mark.parametrize(
    "config",
    [
        {"channel": "webhook", "url": "file:///etc/passwd", "payload": {}},
        {"channel": "webhook", "url": "ftp://example.com/", "payload": {}},
        {"channel": "webhook", "url": "http://[::1", "payload": {}},
        {"channel": "webhook", "url": "", "payload": {}},
        {"channel": "webhook", "url": "http://127.0.0.1:9/", "payload": {},
         "headers": {"X-A": "a\r\nInjected: 1"}},
        {"channel": "email", "smtp": {"host": "127.0.0.1", "port": "abc"}, "to": "a@b.c",
         "from": "a@b.c", "subject": "s", "text": "t"},
        {"channel": "email", "smtp": {"host": "127.0.0.1", "port": 99999}, "to": "a@b.c",
         "from": "a@b.c", "subject": "s", "text": "t"},
    ],
)  # fmt: skip
async def test_a_wrong_url_or_port_fails_for_good(config: dict[str, Any]) -> None:
    """The same config fails the same way: never retried, never a crash of the handler."""
    handler = NotifyHandler(policy=LOCAL)
    try:
        outcome = await handler.run(TaskSpec("r", "n", 1, "notify", config))
    finally:
        await handler.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("NotifyInvalid", False), outcome.message


async def test_an_endless_answer_is_read_only_to_its_start() -> None:
    import httpx

    from tideflow.nodes._notify import ANSWER_BYTES, _post

    sent = 0

    async def endless() -> Any:
        nonlocal sent
        while True:  # gigabytes if it were read whole
            sent += 1
            yield b"x" * 16_384

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=endless())

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        response = await _post(client, "http://receiver.test/hook", json={"text": "hi"})
    assert response.status_code == 500
    assert response.text == "x" * ANSWER_BYTES
    assert sent * 16_384 <= ANSWER_BYTES + 16_384
