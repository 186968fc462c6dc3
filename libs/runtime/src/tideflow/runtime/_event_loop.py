"""The event loop a service runs on: uvloop unless told otherwise.

Every service is an asyncio program whose hot path is small messages: Postgres round
trips, bus fetches, HTTP requests. With the standard loop, its pure-Python machinery
(`_run_once`, handles, selector transports writing to sockets) was 18 % of `tide dev`'s
CPU in W1 and about a third in W3 (py-spy, docs/performance.md); uvloop runs the same
loop in C on libuv, and asyncpg, aiokafka and uvicorn are built to run on it.
`TIDEFLOW_EVENT_LOOP=asyncio` keeps the standard loop (to compare, or where uvloop is
not installed: it has no Windows build).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from tideflow.settings import EventLoopName

log = logging.getLogger("tideflow.runtime")


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What `asyncio.Runner(loop_factory=...)` takes for `name` (None: the standard loop)."""
    if name == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 - optional: not built for every platform
    except ImportError:
        log.warning("uvloop is not installed; running on the standard asyncio loop")
        return None
    return uvloop.new_event_loop
