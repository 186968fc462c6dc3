"""`eval "$(tide infra env)"` exports the variables a child process then sees."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tideflow.infra import Infra
from tideflow.settings import InfraSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

TIDE = str(Path(sys.executable).with_name("tide"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private Redis started through `Infra`, and the env that points `tide` at it."""
    env = {
        **os.environ,
        "TIDEFLOW_INFRA_HOME": str(tmp_path / "infra"),
        "TIDEFLOW_INFRA_CACHE": str(tmp_path / "cache"),
        "TIDEFLOW_INFRA_REDIS_PORT": str(free_port()),
    }
    env.pop("TIDEFLOW_REDIS_URL", None)
    settings = InfraSettings(
        home=tmp_path / "infra",
        cache=tmp_path / "cache",
        redis_port=int(env["TIDEFLOW_INFRA_REDIS_PORT"]),
    )
    infra = Infra(settings=settings)
    infra.up(["redis"])
    try:
        yield env
    finally:
        infra.down(["redis"])


def test_eval_of_infra_env_exports_to_child_processes(redis_env: dict[str, str]) -> None:
    port = redis_env["TIDEFLOW_INFRA_REDIS_PORT"]
    child = "'import os; print(os.environ[\"TIDEFLOW_REDIS_URL\"])'"
    script = f'eval "$("{TIDE}" infra env)"; "{sys.executable}" -c {child}'
    result = subprocess.run(["bash", "-c", script], env=redis_env, capture_output=True,
                            text=True, timeout=60, check=True)  # fmt: skip
    assert result.stdout.strip() == f"redis://127.0.0.1:{port}/0"


def test_infra_env_prints_export_lines_and_nothing_for_stopped_parts(
    redis_env: dict[str, str],
) -> None:
    result = subprocess.run([TIDE, "infra", "env"], env=redis_env, capture_output=True,
                            text=True, timeout=60, check=True)  # fmt: skip
    port = redis_env["TIDEFLOW_INFRA_REDIS_PORT"]
    assert result.stdout.splitlines() == [f"export TIDEFLOW_REDIS_URL=redis://127.0.0.1:{port}/0"]
