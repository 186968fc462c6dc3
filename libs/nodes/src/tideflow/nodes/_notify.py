"""`notify` nodes: a signed webhook, an email over SMTP, a Slack-compatible webhook.

Webhooks are signed the way the trigger service checks inbound ones:
`X-Tideflow-Timestamp: <unix seconds>` and `X-Tideflow-Signature: sha256=<hex
HMAC-SHA256(secret, "{timestamp}.{body}")>`, with `X-Tideflow-Delivery` (the same for every
attempt of a step, so the receiver can drop a repeat). Every HTTP request goes through
the egress policy's transport; the SMTP host is checked against the policy before
connecting. 5xx, 429, timeouts and lost connections are retryable; other 4xx, refused
recipients or senders, failed SMTP logins and 5xx SMTP replies are not.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import aiosmtplib
import httpx
import orjson

from tideflow.nodes._capped import ResponseTooLarge
from tideflow.nodes._egress import EgressDenied, EgressPolicy, GuardedTransport, check_url
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.settings import EgressSettings, parse_duration

if TYPE_CHECKING:
    from datetime import timedelta

    from tideflow.nodes._llm import SecretLookup

DEFAULT_TIMEOUT_S = 30.0
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500
CLIENT_ERROR = 400
SMTP_TRANSIENT = range(400, 500)
ERROR_TEXT = 300


class NotifyHandler:
    node_type = "notify"

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        secrets: SecretLookup | None = None,
        response_bytes: int | None = None,
    ) -> None:
        settings = EgressSettings()
        self._policy = policy or EgressPolicy.from_settings(settings)
        self._secrets = secrets
        cap = response_bytes or int(settings.response_bytes)
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(self._policy, response_bytes=cap),
            follow_redirects=False, trust_env=False,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, task: TaskSpec) -> StepOutcome:  # noqa: PLR0911 - one per failure
        channel = task.config.get("channel")
        try:
            if channel == "webhook":
                return await self._webhook(task)
            if channel == "slack":
                return await self._slack(task)
            if channel == "email":
                return await self._email(task)
        except _InvalidError as e:
            return StepFailure(e.error_type, str(e), retryable=False)
        except EgressDenied as e:
            return StepFailure("EgressDenied", str(e), retryable=False)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as e:
            # the URL or a header is wrong (file://, no scheme, CR/LF): the same config
            # fails the same way, so it is not retried
            return StepFailure("NotifyInvalid", repr(e), retryable=False)
        except httpx.TimeoutException as e:
            return StepFailure("NotifyTimeout", repr(e), retryable=True)
        except httpx.HTTPError as e:
            return StepFailure("NotifyConnectionError", repr(e), retryable=True)
        return StepFailure("NotifyInvalid", f"unknown channel {channel!r}", retryable=False)

    async def _secret(self, task: TaskSpec, name: str, what: str) -> str:
        found = await self._secrets.secrets(task.tenant_id) if self._secrets else {}
        value = found.get(name)
        if value is None:
            raise _InvalidError("SecretNotFound", f"{what}: there is no secret named {name!r}")
        return value

    async def _webhook(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        body = orjson.dumps(config.get("payload"))
        delivery = task.idempotency_key or f"{task.run_id}:{task.node_id}"
        headers = {**_headers(config), "Content-Type": "application/json",
                   "X-Tideflow-Delivery": delivery}  # fmt: skip
        if name := config.get("signingSecret"):
            secret = await self._secret(task, str(name), "signingSecret")
            headers |= signature_headers(secret, body, int(time.time()))
        response = await _post(
            self._client, str(config["url"]), content=body, headers=headers,
            timeout=_timeout(task),
        )  # fmt: skip
        if failure := _http_failure("webhook", response):
            return failure
        return StepSuccess({"channel": "webhook", "status": response.status_code,
                            "deliveryId": delivery})  # fmt: skip

    async def _slack(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        url = config.get("url")
        if name := config.get("webhookSecret"):
            url = await self._secret(task, str(name), "webhookSecret")
        message = {k: config[k] for k in ("text", "blocks") if config.get(k) is not None}
        response = await _post(self._client, str(url), json=message, timeout=_timeout(task))
        if failure := _http_failure("slack", response):
            return failure
        return StepSuccess({"channel": "slack", "status": response.status_code,
                            "response": response.text[:ERROR_TEXT]})  # fmt: skip

    async def _email(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        smtp = dict(config.get("smtp") or {})
        host, port = str(smtp.get("host", "")), _port(smtp.get("port", 587))
        await check_url(self._policy, f"smtp://{host}:{port}")
        password = None
        if name := smtp.get("passwordSecret"):
            password = await self._secret(task, str(name), "smtp.passwordSecret")
        message = _message(task)
        recipients = [*_list(config.get("to")), *_list(config.get("cc")), *_list(config.get("bcc"))]
        security = smtp.get("security", "starttls")
        try:
            refused, reply = await aiosmtplib.send(
                message, hostname=host, port=port, recipients=recipients,
                username=smtp.get("username"), password=password,
                use_tls=security == "tls", start_tls=security == "starttls",
                timeout=_timeout(task),
            )  # fmt: skip
        except aiosmtplib.SMTPException as e:
            return _smtp_failure(e)
        except OSError as e:
            return StepFailure("SmtpConnectionError", repr(e), retryable=True)
        accepted = [r for r in recipients if r not in refused]
        return StepSuccess({"channel": "email", "messageId": message["Message-ID"],
                            "accepted": accepted, "refused": sorted(refused),
                            "reply": reply})  # fmt: skip


class _InvalidError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def signature_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The trigger service's scheme: HMAC-SHA256 over `{timestamp}.{body}`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"X-Tideflow-Timestamp": str(timestamp),
            "X-Tideflow-Signature": f"sha256={digest.hexdigest()}"}  # fmt: skip


def _headers(config: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for name, value in (config.get("headers") or {}).items():
        text = str(value)
        if any(c in text for c in "\r\n\x00") or any(c in str(name) for c in "\r\n\x00:"):
            raise _InvalidError("NotifyInvalid", f"header {name!r} holds CR, LF, NUL or ':'")
        headers[str(name)] = text
    return headers


ANSWER_BYTES = 64 * 1024
"""Most of an answer read: only its start is kept (ERROR_TEXT characters)."""


async def _post(client: httpx.AsyncClient, url: str, **request: Any) -> httpx.Response:
    """POST, reading at most ANSWER_BYTES of the answer: a receiver answering gigabytes
    must not make the worker hold them."""
    async with client.stream("POST", url, **request) as streamed:
        head = bytearray()
        # the notification was delivered: an answer over the transport's cap (its first
        # chunk decompressing past it, say) ends the read, never the step (a retry would
        # notify twice)
        with contextlib.suppress(ResponseTooLarge):
            async for chunk in streamed.aiter_bytes():
                head += chunk
                if len(head) >= ANSWER_BYTES:
                    break
    headers = {"content-type": streamed.headers.get("content-type", "text/plain")}
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(head[:ANSWER_BYTES]),
        request=streamed.request,
    )  # fmt: skip


def _http_failure(channel: str, response: httpx.Response) -> StepFailure | None:
    status = response.status_code
    if status < CLIENT_ERROR:
        return None
    text = " ".join(response.text.split())[:ERROR_TEXT]
    return StepFailure(
        f"Notify{status}",
        f"the {channel} endpoint answered {status}" + (f": {text}" if text else ""),
        retryable=status >= SERVER_ERROR or status == TOO_MANY_REQUESTS,
        details={"status": status, "body": text},
    )


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _message(task: TaskSpec) -> EmailMessage:
    """The email; its Message-ID is derived from the run and node, the same on every
    attempt, so a server or reader can spot a repeat."""
    config = task.config
    message = EmailMessage()
    for header, value in (("From", config.get("from") or config.get("sender")),
                          ("Subject", config.get("subject")),
                          ("Reply-To", config.get("replyTo"))):  # fmt: skip
        if value:
            if any(c in str(value) for c in "\r\n"):
                raise _InvalidError("NotifyInvalid", f"{header} holds CR or LF")
            message[header] = str(value)
    for header, key in (("To", "to"), ("Cc", "cc")):
        if values := _list(config.get(key)):
            message[header] = ", ".join(values)
    message["Date"] = formatdate(localtime=False)
    digest = hashlib.sha256(f"{task.run_id}/{task.node_id}".encode()).hexdigest()[:32]
    domain = str(message.get("From", "")).rpartition("@")[2].strip("> ") or "tideflow.local"
    message["Message-ID"] = f"<tideflow.{digest}@{domain}>"
    text, html = config.get("text"), config.get("html")
    message.set_content(str(text) if text else "This message is in HTML.")
    if html:
        message.add_alternative(str(html), subtype="html")
    return message


def _port(value: object) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = 0
    if not 0 < port < 65536:  # noqa: PLR2004 - the port range
        raise _InvalidError("NotifyInvalid", f"smtp.port: {str(value)[:20]!r} is not a port number")
    return port


def _smtp_failure(error: aiosmtplib.SMTPException) -> StepFailure:
    code = getattr(error, "code", None)
    match error:
        case aiosmtplib.SMTPRecipientsRefused():
            return StepFailure("SmtpRecipientsRefused", str(error), retryable=False)
        case aiosmtplib.SMTPAuthenticationError():
            return StepFailure("SmtpAuthenticationError", str(error), retryable=False)
        case aiosmtplib.SMTPTimeoutError() | aiosmtplib.SMTPConnectError():
            return StepFailure("SmtpConnectionError", str(error), retryable=True)
        case aiosmtplib.SMTPServerDisconnected():
            return StepFailure("SmtpConnectionError", str(error), retryable=True)
    transient = isinstance(code, int) and code in SMTP_TRANSIENT
    return StepFailure(f"Smtp{code or 'Error'}", str(error), retryable=transient)


def _timeout(task: TaskSpec) -> float:
    parsed: timedelta | object = (
        parse_duration(task.config["timeout"]) if task.config.get("timeout") else None
    )
    seconds = parsed.total_seconds() if hasattr(parsed, "total_seconds") else DEFAULT_TIMEOUT_S
    if task.timeout is not None:
        seconds = min(seconds, task.timeout.total_seconds())
    return float(seconds)
