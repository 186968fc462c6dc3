"""`tide dev`'s Postgres after a crash: orphans are adopted, stale lock files cleared."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tideflow.infra import EmbeddedPostgres, InfraError
from tideflow.infra._component import process_cmdline
from tideflow.infra._postgres import postgres_bin_dir, server_identity

pytestmark = pytest.mark.integration


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A folder straight under the temp dir, not pytest's: the server runs as another user
    (under root) and must traverse every parent, but pytest resets its own base folder to
    0700 whenever a session starts, e.g. another developer's on a shared machine."""
    folder = Path(tempfile.mkdtemp(prefix="tideflow-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def answers(url: str) -> bool:
    connection = await asyncpg.connect(url)
    try:
        return bool(await connection.fetchval("SELECT 1"))
    finally:
        await connection.close()


async def test_an_orphan_postmaster_is_stopped_and_started_again_as_our_child(
    data_root: Path,
) -> None:
    first = EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow")
    first.start()
    first.stop()
    # What an older tide dev (pg_ctl, daemonized) or one without a parent-death signal
    # leaves behind: a postmaster of this data dir whose parent is gone.
    uid, gid = server_identity([first.home], first.home)
    subprocess.run(
        [str(postgres_bin_dir() / "pg_ctl"), "-D", str(first.data), "-l", str(first.log),
         "-o", f"-c listen_addresses= -c unix_socket_directories={first.socket_dir}",
         "-w", "start"],
        check=True, capture_output=True, user=uid, group=gid,
    )  # fmt: skip
    orphan = int((first.data / "postmaster.pid").read_text().splitlines()[0])
    assert process_cmdline(orphan) is not None

    second = EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow")
    second.start()
    try:
        assert process_cmdline(orphan) is None
        assert second.pid is not None
        assert second.pid != orphan
        assert parent_of(second.pid) == os.getpid()
        assert await answers(second.url)
    finally:
        second.stop()


async def test_a_lock_file_naming_a_reused_pid_does_not_block_the_start(data_root: Path) -> None:
    server = EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow")
    server.start()
    server.stop()
    # After a reboot the old postmaster's PID can belong to anything, e.g. this process.
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (server.data / "postmaster.pid").write_text(f"{stranger.pid}\n{server.data}\n")
        again = EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow")
        again.start()
        try:
            assert await answers(again.url)
        finally:
            again.stop()
    finally:
        stranger.kill()
        stranger.wait()


def test_one_owner_per_data_dir(data_root: Path) -> None:
    owner = EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow")
    owner.start()
    try:
        with pytest.raises(InfraError, match="another tide dev"):
            EmbeddedPostgres(home=data_root, user="tideflow", database="tideflow").start()
        assert owner.pid is not None
    finally:
        owner.stop()
