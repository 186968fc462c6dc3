"""How every Tideflow HTTP API is served inside its service's event loop.

One place for the server settings the APIs share: the JSON-error HTTP protocol, no
lifespan (the service owns start-up and shutdown), five seconds for requests in flight at
shutdown, and a keep-alive longer than clients' own idle expiry (httpx: 5 s), so the
server is never the one closing a pooled connection just as a client sends on it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import uvicorn

from tideflow.runtime._health import EmbeddedServer
from tideflow.runtime._http_protocol import JsonErrorHttpToolsProtocol

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from starlette.types import ASGIApp

log = logging.getLogger(__name__)


async def serve_api(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    name: str,
    on_started: Callable[[str], None] | None = None,
    **config: Any,
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Start serving `app`; return the server and its task once the socket is bound.

    `name` is what the log line calls it; `on_started` gets the URL it listens on (port 0
    picks a free one); `config` overrides or adds uvicorn settings.
    """
    settings: dict[str, Any] = {
        "log_level": "warning",
        "lifespan": "off",
        "http": JsonErrorHttpToolsProtocol,
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 75,
    }
    server = EmbeddedServer(uvicorn.Config(app, host=host, port=port, **(settings | config)))
    serving = await server.start_serving()
    url = f"http://{host}:{server.bound_port}"
    log.info("%s listening on %s", name, url)
    if on_started is not None:
        on_started(url)
    return server, serving
