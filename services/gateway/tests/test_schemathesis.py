"""Property-based API test: schemathesis generates requests from /openapi.json.

No generated request may produce a 5xx, and every response must match the documented
status codes, content types and schemas; every error is the error document with a code
of `ErrorCode`. Each operation also gets the hostile inputs that used to answer 5xx
(non-ASCII credentials, JSON nested hundreds of levels, a body over the size limit).
The gateway runs in a thread with its own event loop and its own Postgres pool, since
schemathesis calls it synchronously. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Self

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tideflow.bus import InMemoryBus
from tideflow.gateway import ErrorCode, GatewaySettings, create_app, run_gateway
from tideflow.settings import LimitsSettings
from tideflow.store import APP_ROLE, InMemoryEventStore, PostgresEventStore

pytestmark = pytest.mark.integration

TOKEN = "schemathesis-token"


class ThreadedGateway:
    """The gateway on its own loop in a thread, so synchronous clients can call it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._error: BaseException | None = None

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            store = await PostgresEventStore.connect(self.dsn, max_size=4, role=APP_ROLE)
            bus = InMemoryBus()
            await bus.start()
            try:
                await run_gateway(
                    settings=GatewaySettings(
                        port=0, admin_token=TOKEN, stream_poll_interval=timedelta(milliseconds=20)
                    ),
                    store=store,
                    bus=bus,
                    stop=self._stop,
                    on_started=self._started,
                )
            finally:
                await bus.close()
                await store.close()
        except BaseException as e:
            self._error = e
            self._ready.set()
            raise

    def _started(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(30), "the gateway did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive()


@pytest.fixture(scope="module")
def served(dsn: str) -> Iterator[ThreadedGateway]:
    with ThreadedGateway(dsn) as gateway:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=gateway.url, headers=headers) as client:
            document = {
                "apiVersion": "tideflow.io/v1",
                "kind": "Workflow",
                "metadata": {"name": "hello"},
                "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}}]},
            }
            assert client.post("/workflows", json=document).status_code == 201
            assert client.post("/workflows/hello/publish").status_code == 201
        yield gateway


def _operations() -> list[schemathesis.APIOperation]:
    """The operations of the OpenAPI document, read from the app itself at collection time
    (building the app does no IO), so each gets its own test id."""
    app = create_app(settings=GatewaySettings(), store=InMemoryEventStore(), bus=InMemoryBus())
    loaded = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in loaded.get_all_operations()]


OPERATIONS = _operations()
CODES = {code.value for code in ErrorCode}
OPEN_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    # credentials are what these take, not what they need
    "/auth/login",
    "/auth/refresh",
    "/.well-known/jwks.json",
}
CREDENTIALS = (
    "Bearer tést",
    "Bearer \u00ff\u00fe",
    "Bearer a.é.c",
    "Bearer tfk_é_x",
    "Basic é",
    "Basic dMOpc3Q6w6k=",  # base64 of "tést:é"
    "Bearer " + "x" * 5000,
)


def error_shape(_: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx/5xx is `{"error": {"code", "message", "details"}}` with a known code."""
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, (case.path, body)
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, (case.path, body)
    assert error["code"] in CODES, (case.path, body)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)


def _url(operation: schemathesis.APIOperation) -> str:
    """The operation's path with every path parameter filled in with a plausible id."""
    path = operation.path
    for name in [p.name for p in operation.path_parameters]:
        path = path.replace("{" + name + "}", "x1")
    return path


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_hostile_input_is_a_4xx_error_document(
    served: ThreadedGateway, operation: schemathesis.APIOperation
) -> None:
    method, url = operation.method.upper(), _url(operation)
    depth = 300
    deep = ("[" * depth + "1" + "]" * depth).encode()
    oversized = b'"' + b"x" * (LimitsSettings().request_bytes + 1) + b'"'
    with httpx.Client(base_url=served.url, timeout=30) as client:
        answers = []
        for credential in CREDENTIALS:
            headers = {"Authorization": credential.encode()}
            # a Basic password is a guess: after 10 (across the operations) the username's
            # login bucket answers 429, as `POST /auth/login` does
            kind = "guess" if credential == "Basic dMOpc3Q6w6k=" else "auth"
            answers.append((kind, client.request(method, url, headers=headers)))
        if method in {"POST", "PUT", "PATCH"}:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            answers.append(("deep", client.request(method, url, content=deep, headers=headers)))
            body = b'{"input": ' + deep + b', "data": ' + deep + b"}"
            answers.append(("deep", client.request(method, url, content=body, headers=headers)))
            answers.append(
                ("large", client.request(method, url, content=oversized, headers=headers))
            )
    for kind, response in answers:
        assert response.status_code < 500, (kind, method, url, response.text[:300])
        if response.status_code >= 400:
            body = response.json()
            assert body["error"]["code"] in CODES, (kind, body)
            assert isinstance(body["error"]["details"], dict)
        if kind == "guess":
            if operation.path not in OPEN_PATHS:
                assert response.status_code in {401, 429}, (kind, method, url, response.text)
            continue
        expected = {
            "auth": 200 if operation.path in OPEN_PATHS else 401,
            "deep": 422,
            "large": 413,
        }[kind]
        if operation.path not in OPEN_PATHS or kind != "auth":
            assert response.status_code == expected, (kind, method, url, response.text[:300])


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_api_conforms_to_its_schema(
    served: ThreadedGateway, operation: schemathesis.APIOperation
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=served.url,
            headers=headers,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                error_shape,
            ],
            timeout=10,
        )

    check()
