"""`tide infra` is idempotent, reports truthfully, and stops only what it started."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tideflow.infra import Infra, InfraError
from tideflow.infra._component import process_cmdline
from tideflow.settings import InfraSettings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_infra() -> Iterator[Infra]:
    """An Infra in its own folder and on its own ports, so it never touches the shared one.

    The folder is straight under the temp dir, not pytest's: under root Postgres runs as
    another user, who must traverse every parent, and pytest resets its base folder to
    0700 whenever any session starts (another developer's, on a shared machine).
    """
    folder = Path(tempfile.mkdtemp(prefix="tideflow-infra-test-"))
    folder.chmod(0o755)
    settings = InfraSettings(
        home=folder / "infra",
        cache=folder / "cache",
        redis_port=free_port(),
        postgres_port=free_port(),
    )
    infra = Infra(settings=settings)
    try:
        yield infra
    finally:
        infra.down()
        shutil.rmtree(folder, ignore_errors=True)


def test_redis_up_twice_then_down(private_infra: Infra) -> None:
    first = private_infra.up(["redis"])[0]
    second = private_infra.up(["redis"])[0]
    assert first.running
    assert second.pid == first.pid
    assert private_infra.env(["redis"]) == {
        "TIDEFLOW_REDIS_URL": f"redis://{first.address}/0",
    }
    assert private_infra.down(["redis"]) == ["redis"]
    assert first.pid is not None
    assert process_cmdline(first.pid) is None
    assert private_infra.status(["redis"])[0].running is False
    assert private_infra.down(["redis"]) == []


def test_postgres_up_down_keeps_data(private_infra: Infra) -> None:
    status = private_infra.up(["postgres"])[0]
    assert status.running
    url = private_infra.env(["postgres"])["TIDEFLOW_DATABASE_URL"]
    assert url.endswith(f"{status.address}/tideflow")
    private_infra.down(["postgres"])
    assert status.pid is not None
    assert process_cmdline(status.pid) is None
    again = private_infra.up(["postgres"])[0]  # restart on the existing data folder
    assert again.running
    private_infra.down(["postgres"])


def test_port_taken_by_a_stranger_is_reported(private_infra: Infra) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", private_infra.settings.redis_port))
        stranger.listen()
        with pytest.raises(InfraError, match="taken by a process tideflow did not start"):
            private_infra.up(["redis"])
        assert private_infra.down(["redis"]) == []
        assert stranger.fileno() != -1  # the stranger is untouched


def test_unknown_component_is_rejected(private_infra: Infra) -> None:
    with pytest.raises(ValueError, match="unknown component"):
        private_infra.up(["mysql"])


def test_up_that_fails_halfway_stops_only_what_it_started(private_infra: Infra) -> None:
    postgres = private_infra.components["postgres"]
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", private_infra.settings.redis_port))
        stranger.listen()
        with pytest.raises(InfraError, match="stopped again: postgres"):
            private_infra.up(["postgres", "redis"])
        assert postgres.pid() is None  # started by the failed call, so stopped again

        running = private_infra.up(["postgres"])[0]
        with pytest.raises(InfraError, match="taken by a process") as failure:
            private_infra.up(["postgres", "redis"])
        assert "stopped again" not in str(failure.value)
        assert postgres.pid() == running.pid  # it ran before the call: left alone
    private_infra.down(["postgres"])
