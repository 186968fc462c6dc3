"""What every managed component shares: a PID file, a liveness check, a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class InfraError(RuntimeError):
    """A component could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """What `tide infra status` reports for one component."""

    name: str
    running: bool
    pid: int | None
    address: str
    log: Path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path) -> None:
    """Poll `check` until it holds; on time-out, fail with the tail of the component's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise InfraError(f"{what} did not become ready in {timeout:.0f}s.\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    if not log.exists():
        return f"(no log at {log})"
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {log} ---\n" + "\n".join(text)


def process_cmdline(pid: int) -> str | None:
    """The command line of a live process, or None when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if state == "Z":
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


class Component(ABC):
    """One process `tide infra` owns. Subclasses say how to prepare, start and probe it."""

    name: str

    def __init__(self, *, home: Path, port: int) -> None:
        self.home = home.resolve() / self.name
        self.pid_file = self.home / f"{self.name}.pid"
        self._port = port

    @property
    def port(self) -> int:
        """The TCP port the component listens on (loopback only)."""
        return self._port

    @property
    def address(self) -> str:
        """host:port clients connect to."""
        return f"127.0.0.1:{self._port}"

    @property
    def log(self) -> Path:
        """Where the component's own output goes: `<home>/<name>.log`."""
        return self.home / f"{self.name}.log"

    @property
    @abstractmethod
    def marker(self) -> str:
        """A string in the process's command line that proves the PID is still ours."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The TIDEFLOW_* variables that point a client at this component."""

    @abstractmethod
    def _start(self) -> int:
        """Start the process; return its PID."""

    @abstractmethod
    def ready(self) -> bool:
        """Whether the component answers real requests (not just an open port)."""

    def pid(self) -> int | None:
        """The PID we started, if that process is still alive and still ours."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        cmdline = process_cmdline(pid)
        if cmdline is None or self.marker not in cmdline:
            return None
        return pid

    def up(self, *, timeout: float) -> int:
        """Start the component unless it already runs; wait until it is ready."""
        pid = self.pid()
        if pid is None:
            if port_open(self.port):
                raise InfraError(
                    f"{self.name}: port {self.port} is taken by a process tideflow did not "
                    "start; choose another port (see docs/configuration.md)."
                )
            self.home.mkdir(parents=True, exist_ok=True)
            pid = self._start()
            self.pid_file.write_text(f"{pid}\n")
        wait_until(self.ready, timeout=timeout, what=self.name, log=self.log)
        return pid

    def down(self, *, timeout: float = 30.0) -> bool:
        """Stop the process we started (and only it). Returns whether one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._stop(pid)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _stop(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def status(self) -> ComponentStatus:
        """Whether it runs, as which PID, where."""
        pid = self.pid()
        return ComponentStatus(
            name=self.name,
            running=pid is not None and self.ready(),
            pid=pid,
            address=self.address,
            log=self.log,
        )
