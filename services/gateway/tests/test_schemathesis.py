"""Property-based API test: schemathesis generates requests from /openapi.json.

No generated request may produce a 5xx, and every response must match the documented
status codes, content types and schemas (errors included). The gateway runs in a thread
with its own event loop and its own Postgres pool, since schemathesis calls it
synchronously. Bounded: a few dozen examples per operation.
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
from tideflow.gateway import GatewaySettings, create_app, run_gateway
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
            ],
            timeout=10,
        )

    check()
