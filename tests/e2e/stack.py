"""Tideflow services as real subprocesses (`tide serve ...`), for e2e and chaos tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tideflow.bus import Topics

TIDE = str(Path(sys.executable).with_name("tide"))
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One `tide serve <name>` process, restartable, gated on its /healthz."""

    name: str
    args: list[str]
    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, **self.env,
               f"TIDEFLOW_{self.name.upper()}_PORT": str(self.port)}  # fmt: skip
        log = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [TIDE, "serve", self.name, *self.args], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    async def healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                         f"{self.tail()}")  # fmt: skip
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://127.0.0.1:{self.port}/healthz")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never became healthy:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything, as in a machine crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM and wait: the graceful path."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def tail(self, lines: int = 40) -> str:
        path = self.logs / f"{self.name}-{self.starts}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(text[-lines:])


def stack_env(dsn: str, bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "TIDEFLOW_DATABASE_URL": dsn,
        "TIDEFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "TIDEFLOW_KAFKA_TOPIC_PREFIX": prefix,
        "TIDEFLOW_LOG_JSON": "false",
        "PYTHONPATH": str(HERE),
    }


def topics(prefix: str) -> Topics:
    return Topics(prefix=prefix)
