"""Redis from Debian's `redis-server`, in the foreground under our PID, no persistence."""

from __future__ import annotations

import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

from tideflow.infra._component import Component, InfraError

if TYPE_CHECKING:
    from pathlib import Path


class Redis(Component):
    """A throw-away Redis on 127.0.0.1 (rate limits and caches only, so no persistence)."""

    name = "redis"

    def __init__(self, *, home: Path, port: int) -> None:
        super().__init__(home=home, port=port)

    @property
    def marker(self) -> str:
        return f"127.0.0.1:{self._port}"

    def env(self) -> dict[str, str]:
        return {"TIDEFLOW_REDIS_URL": f"redis://127.0.0.1:{self._port}/0"}

    def _start(self) -> int:
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if shutil.which("/usr/bin/redis-server") else None
        )
        if binary is None:
            raise InfraError(
                "redis-server is not installed; `bash scripts/install.sh --with-test-deps` "
                "installs it (Debian package redis-server)."
            )
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self._port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.home),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return proc.pid

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
