"""The client against scripted transports: errors by code, auth, and which calls retry."""

from __future__ import annotations

import inspect
import json
from typing import Any

import httpx
import pytest

from tideflow.client import (
    ApiError,
    AsyncClient,
    Client,
    ConflictError,
    ConnectionFailedError,
    ErrorCode,
    NotFoundError,
    RateLimitedError,
    Retries,
    UnavailableError,
    WaitTimeoutError,
    _async,
    _sync,
)

pytestmark = pytest.mark.unit

FAST = Retries(attempts=3, backoff=0.0)
RUN = {"runId": "r-1", "workflowId": "hello", "version": 1, "status": "running",
       "steps": [], "lastSeq": 2, "futureField": {"kept": True}}  # fmt: skip


def error(status: int, code: str, message: str = "no", **details: Any) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return httpx.Response(status, json=body)


class Script:
    """Answers requests in order; records what arrived."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script: Script, **kwargs: Any) -> Client:
    return Client("http://api.test", token="tok", transport=httpx.MockTransport(script),
                  retries=FAST, **kwargs)  # fmt: skip


def test_token_path_escaping_and_unknown_fields_kept() -> None:
    script = Script(httpx.Response(200, json=RUN))
    run = client(script).runs.get("r/1?x")
    [request] = script.requests
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.url.raw_path == b"/runs/r%2F1%3Fx"
    assert run.run_id == "r-1"
    assert run.to_json()["futureField"] == {"kept": True}


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(404, "RUN_NOT_FOUND", NotFoundError), (409, "WORKFLOW_EXISTS", ConflictError),
     (429, "RATE_LIMITED", RateLimitedError), (418, "TEAPOT", ApiError)],
)  # fmt: skip
def test_errors_carry_the_stable_code(status: int, code: str, cls: type[ApiError]) -> None:
    script = Script(error(status, code, "nope", retryAfter=2))
    with pytest.raises(cls) as raised:
        client(script).runs.get("r-1")
    assert (raised.value.status, raised.value.code, raised.value.message) == (status, code, "nope")
    assert raised.value.details["retryAfter"] == 2
    if cls is RateLimitedError:
        assert raised.value.retry_after == 2  # type: ignore[attr-defined]


def test_an_answer_that_is_not_the_error_document_is_still_typed() -> None:
    with pytest.raises(UnavailableError) as raised:
        client(Script(httpx.Response(502, text="bad gateway"))).workflows.list()
    assert raised.value.code == "HTTP_502"
    with pytest.raises(ApiError) as bad:
        client(Script(httpx.Response(200, json={"runId": 3}))).runs.get("r-1")
    assert bad.value.code == ErrorCode.BAD_RESPONSE


def test_reads_are_retried_on_broken_connections_and_503() -> None:
    script = Script(httpx.ReadError("reset"), error(503, "UNAVAILABLE"),
                    httpx.Response(200, json=RUN))  # fmt: skip
    assert client(script).runs.get("r-1").status == "running"
    assert len(script.requests) == 3


def test_a_start_without_key_is_not_sent_twice_after_the_request_went_out() -> None:
    script = Script(httpx.ReadError("reset"), httpx.Response(201, json=RUN))
    with pytest.raises(ConnectionFailedError) as raised:
        client(script).runs.start("hello", {"a": 1})
    assert raised.value.code == ErrorCode.UNREACHABLE
    assert len(script.requests) == 1
    script = Script(error(503, "UNAVAILABLE"), httpx.Response(201, json=RUN))
    with pytest.raises(UnavailableError):
        client(script).runs.start("hello", {"a": 1})
    assert len(script.requests) == 1


def test_a_start_with_a_key_is_retried_with_the_same_key() -> None:
    script = Script(httpx.ReadError("reset"), httpx.Response(200, json=RUN))
    client(script).runs.start("hello", {"a": 1}, idempotency_key="k-1")
    bodies = [json.loads(r.content) for r in script.requests]
    assert bodies == [{"input": {"a": 1}, "idempotencyKey": "k-1"}] * 2


def test_a_connection_never_opened_is_retried_for_any_call() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json=RUN))
    assert client(script).runs.start("hello").run_id == "r-1"
    assert len(script.requests) == 2


def test_signals_and_cancels_get_a_key_so_their_retries_are_one_command() -> None:
    accepted = httpx.Response(202, json={"runId": "r-1", "commandId": "c"})
    script = Script(httpx.ReadError("reset"), accepted)
    client(script).runs.signal("r-1", "go", {"x": 1})
    first, second = (json.loads(r.content) for r in script.requests)
    assert first == second
    assert first["data"] == {"x": 1}
    assert first["idempotencyKey"]
    script = Script(httpx.RemoteProtocolError("eof"), accepted)
    client(script).runs.cancel("r-1", reason="why")
    first, second = (json.loads(r.content) for r in script.requests)
    assert first == second
    assert first["reason"] == "why"


def test_giving_up_says_where() -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(ConnectionFailedError, match=r"cannot reach http://api\.test: refused"):
        client(script).runs.get("r-1")
    assert len(script.requests) == FAST.attempts


def test_apply_creates_or_replaces_the_draft_and_publishes() -> None:
    workflow = {"id": "hello", "latestVersion": None, "archived": False, "revision": 2,
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "definition": {}}  # fmt: skip
    saved = {**workflow, "revision": 3, "updatedAt": "2026-01-02T00:00:00Z"}
    script = Script(error(409, "WORKFLOW_EXISTS"), httpx.Response(200, json=workflow),
                    httpx.Response(200, json=saved),
                    httpx.Response(201, json={"workflowId": "hello", "version": 3}))  # fmt: skip
    applied = client(script).workflows.apply({"metadata": {"name": "hello"}}, publish=True)
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/workflows"), ("GET", "/workflows/hello"), ("PUT", "/workflows/hello"),
        ("POST", "/workflows/hello/publish"),
    ]  # fmt: skip
    assert applied.action == "updated"
    assert applied.published is not None
    assert applied.published.version == 3


async def test_apply_of_the_draft_as_it_is_says_unchanged() -> None:
    """The server answers an unchanged PUT with the draft's revision as it was."""
    workflow = {"id": "hello", "latestVersion": 1, "archived": False, "revision": 2,
                "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "definition": {}}  # fmt: skip

    def answers() -> Script:
        return Script(error(409, "WORKFLOW_EXISTS"), httpx.Response(200, json=workflow),
                      httpx.Response(200, json=workflow))  # fmt: skip

    applied = client(answers()).workflows.apply({"metadata": {"name": "hello"}})
    assert (applied.action, applied.published) == ("unchanged", None)
    async with AsyncClient("http://api.test", transport=httpx.MockTransport(answers()),
                           retries=FAST) as tide:  # fmt: skip
        assert (await tide.workflows.apply({"metadata": {"name": "hello"}})).action == "unchanged"


def test_validation_problems_name_their_node() -> None:
    problem = {"code": "INVALID_CONFIG", "path": "spec.nodes[0].config", "message": "m",
               "node": "ask"}  # fmt: skip
    script = Script(httpx.Response(200, json={"valid": False, "problems": [problem]}))
    with client(script) as tide:
        result = tide.workflows.validate({"spec": {}})
    assert result.problems[0].node == "ask"


def test_approvals_go_to_their_own_address() -> None:
    script = Script(httpx.Response(200, json={"items": [], "nextCursor": None}))
    client(script, approvals_url="http://inbox.test").approvals.list(workflow_id="w")
    [request] = script.requests
    assert str(request.url) == "http://inbox.test/approvals?status=pending&workflowId=w&limit=50"


def test_wait_gives_up_with_the_run_as_last_seen() -> None:
    script = Script(httpx.Response(200, json=RUN))
    with pytest.raises(WaitTimeoutError) as raised:
        client(script).runs.wait("r-1", timeout=0.05)
    assert raised.value.run.status == "running"


async def test_the_async_client_behaves_the_same() -> None:
    script = Script(httpx.ReadError("reset"), error(404, "RUN_NOT_FOUND"))
    async with AsyncClient("http://api.test", transport=httpx.MockTransport(script),
                           retries=FAST) as tide:  # fmt: skip
        with pytest.raises(NotFoundError) as raised:
            await tide.runs.get("r-1")
    assert raised.value.code == ErrorCode.RUN_NOT_FOUND
    assert len(script.requests) == 2


def test_the_env_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_URL", "http://from-env:1/")
    monkeypatch.setenv("TIDEFLOW_TOKEN", "env-token")
    monkeypatch.delenv("TIDEFLOW_APPROVAL_URL", raising=False)
    with Client() as tide:
        assert (tide.endpoint.url, tide.endpoint.token) == ("http://from-env:1", "env-token")
        assert tide.endpoint.approvals_url == "http://from-env:1"
    with pytest.raises(ValueError, match="not an http"):
        Client("ftp://x")


@pytest.mark.parametrize("namespace", ["Client", "Runs", "Workflows", "Approvals"])
def test_the_sync_and_async_clients_are_twins(namespace: str) -> None:
    """Same methods, same parameters; only `async` (and the class name) differ."""
    sync_cls = getattr(_sync, namespace)
    async_cls = getattr(_async, "AsyncClient" if namespace == "Client" else namespace)
    public = {n for n in vars(sync_cls) if not n.startswith("_") or n == "__init__"}
    async_public = {n for n in vars(async_cls) if not n.startswith("_") or n == "__init__"}
    assert public == async_public
    for name in public:
        sync_sig = inspect.signature(getattr(sync_cls, name))
        async_sig = inspect.signature(getattr(async_cls, name))
        assert list(sync_sig.parameters) == list(async_sig.parameters), name


def test_wait_long_polls_the_gateway_and_returns_the_ended_run() -> None:
    ended = RUN | {"status": "succeeded"}
    script = Script(httpx.Response(200, json=RUN), httpx.Response(200, json=ended))
    run = client(script).runs.wait("r-1", timeout=30)
    assert run.status == "succeeded"
    held = [float(r.url.params["wait"]) for r in script.requests]
    assert len(held) == 2
    assert all(0 < h <= 24 for h in held)  # within the client's 30 s read timeout
