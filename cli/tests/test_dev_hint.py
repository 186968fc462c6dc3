"""The first command `tide dev` prints works when pasted: address, token, a runnable path."""

# ruff: noqa: S104 - "0.0.0.0" here is a listen address turned into a client address

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tideflow.cli.dev import client_url, tide_executable, try_command

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [("127.0.0.1", 8080, "http://127.0.0.1:8080"), ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
     ("::1", 8080, "http://[::1]:8080"), ("tide.local", 80, "http://tide.local:80")],
)  # fmt: skip
def test_client_url(host: str, port: int, url: str) -> None:
    assert client_url(host, port) == url


def test_default_address_needs_no_url() -> None:
    words = shlex.split(try_command(host="127.0.0.1", port=8080, token="t k", examples=["hello"]))
    assert words[0] == "TIDEFLOW_TOKEN=t k"
    assert words[2:5] == ["run", "start", "hello"]


def test_another_port_carries_the_url() -> None:
    words = shlex.split(try_command(host="0.0.0.0", port=8090, token="t", examples=[]))
    assert words[:2] == ["TIDEFLOW_URL=http://127.0.0.1:8090", "TIDEFLOW_TOKEN=t"]
    assert words[-2:] == ["workflow", "list"]  # no hello example to start


def test_the_executable_is_one_a_shell_can_run(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:  # fmt: skip
    tide = tmp_path / ".venv" / "bin" / "tide"
    monkeypatch.setattr(sys, "argv", [str(tide)])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert tide_executable() == ".venv/bin/tide"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not below the venv: an absolute path
    assert tide_executable() == str(tide)
