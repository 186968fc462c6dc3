"""The systems under test, started as real processes the way a user would run them.

- `embedded`: `tide dev` (gateway, scheduler and executor in one process, the in-process
  bus, an embedded Postgres in a fresh data folder);
- `kafka`: `tide serve gateway|scheduler|executor` as three processes on the Kafka and
  Postgres of `tide infra`, with a fresh database (created and `tide db migrate`d) and a
  fresh topic prefix, so no earlier run's data or lag colours the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from tidebench._client import BenchError

if TYPE_CHECKING:
    from types import TracebackType

TIDE = str(Path(sys.executable).with_name("tide"))
BENCH_DIR = Path(__file__).resolve().parents[1]
# variables of the caller's shell that would point a service at something else
SCRUBBED = ("TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP", "TIDEFLOW_KAFKA_TOPIC_PREFIX")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Process:
    """One service process, gated on its /healthz, its output kept in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError(f"{self.name} is not running")
        return self.popen.pid

    async def healthy(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.popen is not None and self.popen.poll() is not None:
                    raise BenchError(f"{self.name} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.health_url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise BenchError(f"{self.name} never became healthy:\n{self.tail()}")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


@dataclass
class Stack:
    """A started system: where its API is, its Postgres, and its service processes."""

    name: str
    api_url: str
    token: str
    database_url: str
    processes: list[Process]
    kafka_bootstrap: str | None
    topic_prefix: str | None
    workdir: Path
    settings: dict[str, object] = field(default_factory=dict)
    _cleanup: list[str] = field(default_factory=list)

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes}


def _base_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    path = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH", "")]))
    env |= {
        "PYTHONPATH": path,
        "TIDEFLOW_ADMIN_TOKEN": token,
        "TIDEFLOW_LOG_JSON": "false",
        "TIDEFLOW_LOG_LEVEL": "WARNING",
    }
    return env


class EmbeddedStack:
    """`tide dev` in a fresh data folder: the default single-process deployment."""

    def __init__(self, *, workdir: Path | None = None) -> None:
        self._own_dir = workdir is None
        self._dir = workdir or Path(tempfile.mkdtemp(prefix="tidebench-embedded-"))
        self.stack: Stack | None = None

    async def __aenter__(self) -> Stack:
        token = secrets.token_urlsafe(16)
        port, pg_port = free_port(), free_port()
        examples = self._dir / "no-examples"
        examples.mkdir(parents=True, exist_ok=True)
        argv = [TIDE, "dev", "--data-dir", str(self._dir / "data"), "--port", str(port),
                "--pg-port", str(pg_port), "--examples", str(examples),
                "--module", "bench_tasks"]  # fmt: skip
        process = Process("dev", argv, _base_env(token), f"http://127.0.0.1:{port}/healthz",
                          self._dir / "dev.log")  # fmt: skip
        self.stack = Stack(
            name="embedded",
            api_url=f"http://127.0.0.1:{port}",
            token=token,
            database_url=f"postgresql://tideflow@127.0.0.1:{pg_port}/tideflow",
            processes=[process],
            kafka_bootstrap=None,
            topic_prefix=None,
            workdir=self._dir,
            settings={"bus": "in-process", "postgres": "embedded (tide dev)"},
        )
        process.start()
        try:
            await process.healthy(within=180)
        except BaseException:
            process.stop()
            raise
        return self.stack

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if self.stack is not None:
            for process in self.stack.processes:
                process.stop()
        if self._own_dir and exc is None:
            shutil.rmtree(self._dir, ignore_errors=True)


class KafkaStack:
    """Three `tide serve` processes on the infra's Kafka and a fresh Postgres database."""

    def __init__(
        self,
        *,
        admin_database_url: str,
        kafka_bootstrap: str,
        executor_concurrency: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        self._admin_url = admin_database_url
        self._bootstrap = kafka_bootstrap
        self._concurrency = executor_concurrency
        self._own_dir = workdir is None
        self._dir = workdir or Path(tempfile.mkdtemp(prefix="tidebench-kafka-"))
        self._database = f"tidebench_{uuid.uuid4().hex[:10]}"
        self.stack: Stack | None = None

    async def __aenter__(self) -> Stack:
        await require_infra(self._admin_url, self._bootstrap)
        token = secrets.token_urlsafe(16)
        dsn = with_database(self._admin_url, self._database)
        await _create_database(self._admin_url, self._database)
        migrate = subprocess.run(  # noqa: ASYNC221 - one short command before the run
            [TIDE, "db", "migrate", "--database-url", dsn], capture_output=True, check=False
        )
        if migrate.returncode != 0:
            raise BenchError(f"tide db migrate failed: {migrate.stderr.decode()[-500:]}")
        prefix = f"tidebench{uuid.uuid4().hex[:8]}"
        env = _base_env(token) | {
            "TIDEFLOW_DATABASE_URL": dsn,
            "TIDEFLOW_KAFKA_BOOTSTRAP": self._bootstrap,
            "TIDEFLOW_KAFKA_TOPIC_PREFIX": prefix,
        }
        ports = {name: free_port() for name in ("gateway", "scheduler", "executor")}
        executor_args = ["--module", "bench_tasks"]
        if self._concurrency:
            executor_args += ["--concurrency", str(self._concurrency)]
        processes = [
            Process(name, [TIDE, "serve", name, "--port", str(ports[name]), *args], env,
                    f"http://127.0.0.1:{ports[name]}/healthz", self._dir / f"{name}.log")
            for name, args in (("scheduler", []), ("executor", executor_args), ("gateway", []))
        ]  # fmt: skip
        self.stack = Stack(
            name="kafka",
            api_url=f"http://127.0.0.1:{ports['gateway']}",
            token=token,
            database_url=dsn,
            processes=processes,
            kafka_bootstrap=self._bootstrap,
            topic_prefix=prefix,
            workdir=self._dir,
            settings={"bus": f"kafka {self._bootstrap}", "database": self._database,
                      "topic_prefix": prefix},
        )  # fmt: skip
        try:
            for process in processes:
                process.start()
            for process in processes:
                await process.healthy()
        except BaseException:
            await self._teardown(drop=True)
            raise
        return self.stack

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self._teardown(drop=exc is None)

    async def _teardown(self, *, drop: bool) -> None:
        if self.stack is not None:
            for process in self.stack.processes:
                process.stop()
        if drop:
            await _drop_database(self._admin_url, self._database)
            if self._own_dir:
                shutil.rmtree(self._dir, ignore_errors=True)


INFRA_HINT = (
    'start them with `.venv/bin/tide infra up` and `eval "$(.venv/bin/tide infra env)"`, '
    "or bench the embedded default alone with `--stack embedded`"
)


async def require_infra(admin_url: str, bootstrap: str) -> None:
    """Fail in one sentence, before starting anything, when Kafka or Postgres is down."""
    host, _, port = bootstrap.split(",", maxsplit=1)[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host or "127.0.0.1", int(port)), timeout=5
        )
        writer.close()
    except (OSError, TimeoutError, ValueError) as e:
        raise BenchError(
            f"the kafka stack needs Kafka, and there is none at {bootstrap} ({e}); {INFRA_HINT}"
        ) from e
    try:
        connection = await asyncpg.connect(admin_url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as e:
        where = urlsplit(admin_url).netloc.rpartition("@")[2]
        raise BenchError(
            f"the kafka stack needs Postgres, and there is none at {where} ({e}); {INFRA_HINT}"
        ) from e
    await connection.close()


async def _create_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(admin_url: str, name: str) -> None:
    with contextlib.suppress(asyncpg.PostgresError, OSError):
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
