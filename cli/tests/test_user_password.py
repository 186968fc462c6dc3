"""`tide user create` takes the password from a pipe as `tide secret put` takes a value.

Piped (`echo "$PW" | tide user create ...`), the prompt asked for a confirmation the pipe
never sent, and the command aborted (exit 1) without creating the user.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli import security as security_cli
from tideflow.client import Client, Retries

pytestmark = pytest.mark.unit

AT = "2026-11-26T10:00:00Z"


def recording(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        user = {"id": "u1", "username": body["username"], "tenant": "default",
                "role": body["role"], "createdAt": AT, "disabled": False}  # fmt: skip
        return httpx.Response(201, json=user)

    def connect(*_args: object, **_kwargs: object) -> Client:
        transport = httpx.MockTransport(answer)
        return Client("http://api.test", transport=transport, retries=Retries())

    monkeypatch.setattr(security_cli, "connect", connect)
    return bodies


def test_a_piped_password_is_the_first_line(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = recording(monkeypatch)
    result = CliRunner().invoke(
        security_cli.user_app, ["create", "ann", "--role", "viewer"], input="s3cret-pass\nrest\n"
    )
    assert result.exit_code == 0, result.output
    assert bodies == [{"username": "ann", "password": "s3cret-pass", "role": "viewer"}]


def test_no_password_anywhere_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = recording(monkeypatch)
    result = CliRunner().invoke(security_cli.user_app, ["create", "ann", "--role", "viewer"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error PASSWORD_REQUIRED: give --password, or the password as the first line of stdin"
    )
    assert bodies == []


def test_the_option_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = recording(monkeypatch)
    result = CliRunner().invoke(
        security_cli.user_app,
        ["create", "ann", "--role", "viewer", "--password", "given-pass"],
        input="piped-pass\n",
    )
    assert result.exit_code == 0, result.output
    assert bodies[0]["password"] == "given-pass"
