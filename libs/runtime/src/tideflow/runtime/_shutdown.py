"""SIGTERM/SIGINT -> an asyncio.Event, so services finish in-flight work before exiting."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT; a second one exits at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if stop.is_set():
            raise SystemExit(130)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    return stop
