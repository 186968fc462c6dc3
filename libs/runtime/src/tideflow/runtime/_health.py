"""/healthz, /readyz and /metrics for the services that have no API of their own.

Liveness answers as long as the event loop turns; readiness asks the service (is the
consumer assigned, is the database reachable) so a load balancer or the operator only
sends work to a replica that can do it.

Every answer is the API's shape, so a probe or a scraper sees one error format on every
port: an unknown path is a JSON 404 `NOT_FOUND`, a wrong method a 405
`METHOD_NOT_ALLOWED`, a failing readiness check a 500 `INTERNAL`, and a request head the
HTTP parser refuses a 400 `BAD_REQUEST` (or 401 `UNAUTHENTICATED`), through the same
protocol class as the API services (`JsonErrorHttpToolsProtocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tideflow.contract import ErrorCode
from tideflow.runtime._api import code_for_status, error_body
from tideflow.runtime._http_protocol import JsonErrorHttpToolsProtocol

if TYPE_CHECKING:
    from starlette.requests import Request

Readiness = Callable[[], Awaitable[dict[str, bool]]]


def _error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


async def _http_error(_: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    response = _error(status, code_for_status(status), str(getattr(exc, "detail", "")))
    if headers:  # 405 names the allowed methods
        response.headers.update(headers)
    return response


async def _internal(_: Request, __: Exception) -> Response:
    return _error(500, ErrorCode.INTERNAL, "internal error")


def health_app(*, service: str, readiness: Readiness) -> Starlette:
    """A tiny ASGI app with the three operational endpoints."""

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": service})

    async def readyz(_: Request) -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "service": service, "checks": checks},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal},
    )


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host process.

    uvicorn installs its own SIGTERM/SIGINT handlers and re-raises the signal on exit; a
    service that runs several servers and consumers in one loop must own shutdown itself.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def start_serving(self) -> asyncio.Task[None]:
        """Serve in a background task; return once the socket is bound."""
        task = asyncio.create_task(self.serve())
        while not self.started:
            if task.done():
                task.result()  # surfaces a bind error
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        return task

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful when configured as 0)."""
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)


class HealthServer:
    """Serves `health_app` inside the service's own event loop (no extra thread)."""

    def __init__(self, *, service: str, host: str, port: int, readiness: Readiness) -> None:
        config = uvicorn.Config(
            health_app(service=service, readiness=readiness),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            http=JsonErrorHttpToolsProtocol,
        )
        self._server = EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = await self._server.start_serving()

    @property
    def port(self) -> int:
        return self._server.bound_port

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
