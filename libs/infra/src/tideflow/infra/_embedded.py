"""The Postgres of one `tide dev` data folder: a child process that lives and dies with it.

`tide infra` starts a Postgres that outlives the command (`pg_ctl`, a daemon). `tide dev`
wants the opposite: its Postgres belongs to the one process serving that data folder.

- **One owner per data folder.** An exclusive `flock` on `postgres/owner.lock`, held for
  the life of the process (the kernel drops it on any death, SIGKILL included), says which
  `tide dev` owns the folder; a second one on the same folder is refused with its PID.
- **It dies with its parent.** The postmaster is our child in its own session (a Ctrl-C
  in the terminal reaches only `tide dev`, which then drains before stopping it), and on
  Linux asks the kernel for SIGINT (a fast, clean shutdown) when its parent dies.
- **Adopt what a crash left behind.** Holding the lock, any live postmaster of this data
  folder is an orphan of an earlier owner (an older version, or one killed where no
  parent-death signal exists): it is shut down and started again as our child. Stale
  `postmaster.pid` and socket lock files whose PID is gone or is some other process (PIDs
  are reused) are removed, so Postgres does not refuse to start.
- **No fixed port.** By default the server listens on a Unix socket in the data folder
  only (or in a short folder under the temp dir when the path would exceed the socket
  path limit), so any number of `tide dev` run side by side; `port` adds TCP on
  127.0.0.1. The URL is written to `postgres/database-url` for tools.
- **Supervised.** `supervise()` restarts the server if it dies while `tide dev` runs;
  the services retry their writes meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from tideflow.infra._component import InfraError, process_cmdline, tail
from tideflow.infra._postgres import init_cluster, postgres_bin_dir, server_identity

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("tideflow.infra.postgres")

SOCKET_PORT = 5432  # names the socket file only, when there is no TCP listener
MAX_SOCKET_PATH = 100  # the kernel's limit is 107 bytes; keep a margin
PR_SET_PDEATHSIG = 1
SERVER_OPTIONS = ("-c", "max_connections=300", "-c", "shared_buffers=256MB")


class EmbeddedPostgres:
    """Postgres for one data folder, owned by this process. Use `start()` then `stop()`."""

    def __init__(self, *, home: Path, user: str, database: str, port: int | None = None) -> None:
        self.home = home.resolve() / "postgres"
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.user = user
        self.database = database
        self.port = port
        self._lock: IO[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def socket_dir(self) -> Path:
        """The data folder's own, unless its path is too long for a socket address."""
        if len(str(self.home)) + len(f"/.s.PGSQL.{self._listen_port}") <= MAX_SOCKET_PATH:
            return self.home
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"tideflow-pg-{digest}"

    @property
    def _listen_port(self) -> int:
        return self.port or SOCKET_PORT

    @property
    def url(self) -> str:
        """Where clients connect: the TCP port when one is served, else the socket."""
        if self.port is not None:
            return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"
        return self.socket_url

    @property
    def socket_url(self) -> str:
        """The Unix socket, served whether or not a TCP port is too: the way in for a
        process on this machine, a round trip without the TCP loopback stack."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{self.user}@/{self.database}?host={host}&port={self._listen_port}"

    @property
    def tcp_address(self) -> str | None:
        """`127.0.0.1:port` when a TCP port is served."""
        return None if self.port is None else f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def start(self, *, timeout: float = 60) -> None:
        """Own the folder, clear what a crash left, start the server and its database."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._take_ownership()
        self.log.touch()
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        init_cluster(self.data, self.user, self._run, self.log)
        self._stop_orphan()
        self._clear_stale_locks()
        self._spawn_until_ready(timeout=timeout)
        self._ensure_database()
        (self.home / "database-url").write_text(self.url + "\n")

    def stop(self, *, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT), escalating to SIGQUIT and SIGKILL; then release the folder."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process.pid, timeout=timeout, wait=lambda t: _wait_child(process, t))
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def supervise(self, stop: asyncio.Event, *, poll: float = 0.5) -> None:
        """Start the server again whenever it dies, until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
            process = self._process
            if stop.is_set() or process is None or process.poll() is None:
                continue
            log.warning("embedded Postgres exited (%s); starting it again", process.returncode)
            try:
                # Spawned on the loop's own thread: the parent-death signal follows the
                # thread that forked, and this one lives as long as the process.
                self._clear_stale_locks()
                await self._respawn()
                self.restarts += 1
            except InfraError:
                log.exception("restarting the embedded Postgres failed; trying again")

    async def _respawn(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while True:
            self._process = self._spawn(*self._identity())
            while self._process.poll() is None:
                if await asyncio.to_thread(self._ready):
                    return
                await asyncio.sleep(0.1)
            if time.monotonic() > deadline:
                raise InfraError(f"embedded Postgres did not start again.\n{tail(self.log)}")
            await asyncio.sleep(0.5)  # e.g. backends of the dead postmaster still exiting

    def _take_ownership(self) -> None:
        lock = (self.home / "owner.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "?"
            lock.close()
            raise InfraError(
                f"another tide dev (pid {owner}) is using {self.home.parent}; stop it or "
                "pass another --data-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock

    def _is_ours(self, pid: int) -> bool:
        """Whether `pid` is a postgres server of this data folder."""
        cmdline = process_cmdline(pid)
        return cmdline is not None and "postgres" in cmdline and str(self.data) in cmdline

    def _stop_orphan(self) -> None:
        """A postmaster of this folder still running: left by a previous owner; stop it."""
        pid = _pid_in(self.data / "postmaster.pid")
        if pid is None or not self._is_ours(pid):
            return
        log.warning("stopping the embedded Postgres (pid %d) a previous tide dev left", pid)
        _terminate(pid, timeout=30, wait=lambda t: _wait_gone(pid, t))

    def _clear_stale_locks(self) -> None:
        """Lock files naming a live process that is not this folder's postmaster (the PID
        was reused): Postgres would refuse to start. Lock files of a dead PID are left to
        Postgres, which checks them against shared memory still in use by old backends."""
        socket = self.socket_dir / f".s.PGSQL.{self._listen_port}"
        for lock in (self.data / "postmaster.pid", Path(f"{socket}.lock")):
            pid = _pid_in(lock)
            if pid is None or process_cmdline(pid) is None or self._is_ours(pid):
                continue
            log.info("removing %s: its pid %d is another process now", lock, pid)
            lock.unlink(missing_ok=True)

    def _command(self) -> list[str]:
        listen = "127.0.0.1" if self.port is not None else ""
        return [
            str(postgres_bin_dir() / "postgres"), "-D", str(self.data),
            "-p", str(self._listen_port), "-c", f"listen_addresses={listen}",
            "-c", f"unix_socket_directories={self.socket_dir}", *SERVER_OPTIONS,
        ]  # fmt: skip

    def _spawn(self, uid: int | None, gid: int | None) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C is for tide dev, not for it
                user=uid,
                group=gid,
                preexec_fn=_die_with(os.getpid()),  # noqa: PLW1509 - prctl only
            )

    def _spawn_until_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            # identity again on every try: it also restores the server's way into the
            # folder, which e.g. a tool resetting a parent's mode to 0700 may have cut
            self._process = self._spawn(*self._identity())
            while self._process.poll() is None and time.monotonic() < deadline:
                if self._ready():
                    return
                time.sleep(0.1)
            if time.monotonic() > deadline:
                self.stop()
                raise InfraError(f"embedded Postgres did not become ready.\n{tail(self.log)}")
            time.sleep(0.5)  # exited: e.g. an orphan's backends still hold shared memory

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(postgres_bin_dir() / "pg_isready"), "-h", str(self.socket_dir),
             "-p", str(self._listen_port), "-U", self.user, "-d", "postgres", "-t", "2"],
            capture_output=True, check=False, timeout=10,
        )  # fmt: skip
        return result.returncode == 0

    def _ensure_database(self) -> None:
        result = self._run(
            [str(postgres_bin_dir() / "createdb"), "-h", str(self.socket_dir),
             "-p", str(self._listen_port), "-U", self.user, self.database],
            timeout=60,
        )  # fmt: skip
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise InfraError(f"postgres: createdb failed:\n{result.stderr}")

    def _identity(self) -> tuple[int | None, int | None]:
        """The server's user, owning (again) whatever of ours exists by now."""
        return server_identity([self.home, self.data, self.log, self.socket_dir], self.home)

    def _run(self, cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the server's user."""
        uid, gid = self._identity()
        return subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout, user=uid, group=gid
        )


def _pid_in(lock: Path) -> int | None:
    """The PID on the first line of a Postgres lock file, if any."""
    try:
        return int(lock.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _die_with(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel for SIGINT when `parent` dies (Linux only).

    libc and prctl are looked up here, in the parent, so the forked child only makes one
    system call before exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:  # the parent died before the call: do not outlive it
            os._exit(1)

    return hook


def _wait_child(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_cmdline(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: int, *, timeout: float, wait: Callable[[float], bool]) -> None:
    """SIGINT (fast shutdown), then SIGQUIT (immediate), then SIGKILL."""
    for sig, grace in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait(grace):
            return
