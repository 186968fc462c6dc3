"""Credentials a connector derives from secrets never leave the executor either.

The executor masks secret values, but a Basic header carries `base64(user:password)`,
where neither value appears as such, and an OAuth2 client-credentials token is fetched at
run time: the redactor cannot know either unless the connector tells it. Gateway,
scheduler and executor run in this process on a real Postgres (as `tide dev`), with
connectors from `TIDEFLOW_CONNECTORS_PATH` pointed at a local server that echoes the
`Authorization` header back in its answers, in a header, and in the text of a 400 (and
a token endpoint that quotes it in its error). Every table, log record and API answer
about those runs is searched for the encoded credentials and the token; the masks that
replaced them are asserted, so the test cannot pass by not exercising a path.

The same harness shows the deployment's response cap (`TIDEFLOW_EGRESS_RESPONSE_BYTES`,
set below the connectors' own) reaching the executor's shared plugin client.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tideflow.executor.redaction import MASK
from tideflow.executor.settings import ExecutorSettings
from tideflow.settings import EgressSettings

from .conftest import admin_gateway, serving_platform
from .leaks import (
    LogCapture,
    api_answers,
    captured_logs,
    finished,
    local_server,
    one_node_workflow,
    run_each,
    table_values,
)

pytestmark = pytest.mark.integration

ADMIN = "connector-secrets-admin"
SECRETS = {"API_USER": "ann", "API_PASSWORD": "pa:ss-Q7", "CLIENT_ID": "cid-Q7",
           "CLIENT_SECRET": "csecret-Q7"}  # fmt: skip
BASIC = base64.b64encode(b"ann:pa:ss-Q7").decode()
CLIENT_BASIC = base64.b64encode(b"cid-Q7:csecret-Q7").decode()
TOKEN = "at-Zr8wK2fP0qLx"
HIDDEN = (BASIC, CLIENT_BASIC, TOKEN)


def leaks(text: str) -> list[str]:
    return [v for v in HIDDEN for form in {v, quote(v, safe="")} if form in text]


async def echo(request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    return JSONResponse({"authorization": auth, "said": f"you sent {auth}"},
                        headers={"X-Echo": auth})  # fmt: skip


async def fail(request: Request) -> Response:
    return PlainTextResponse(f"rejected {request.headers.get('authorization')}", status_code=400)


async def token(_: Request) -> Response:
    return JSONResponse({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600})


async def big(_: Request) -> Response:
    return JSONResponse({"items": ["x" * 1000] * 200})  # about 200 KB


async def bad_token(request: Request) -> Response:
    error = f"invalid_client {request.headers.get('authorization')}"
    return JSONResponse({"error": error}, status_code=400)


CONNECTOR = """
name: {name}
baseUrl: {base}
auth: {auth}
operations:
  echo: {{path: /echo}}
  fail: {{path: /fail}}
  big: {{path: /big}}
"""


@pytest.fixture
async def platform(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, LogCapture]]:
    routes = [Route("/echo", echo), Route("/fail", fail), Route("/big", big),
              Route("/oauth/token", token, methods=["POST"]),
              Route("/bad/token", bad_token, methods=["POST"])]  # fmt: skip
    async with local_server(routes) as base:
        oauth = ("{{type: oauth2_client_credentials, tokenUrl: '{base}/{path}/token', "
                 "clientIdSecret: CLIENT_ID, clientSecretSecret: CLIENT_SECRET}}")  # fmt: skip
        auths = {
            "basicapi": "{type: basic, usernameSecret: API_USER, passwordSecret: API_PASSWORD}",
            "oauthapi": oauth.format(base=base, path="oauth"),
            "badoauth": oauth.format(base=base, path="bad"),
        }
        for name, auth in auths.items():
            connector = CONNECTOR.format(name=name, base=base, auth=auth)
            (tmp_path / f"{name}.yaml").write_text(connector)
        monkeypatch.setenv("TIDEFLOW_CONNECTORS_PATH", str(tmp_path))
        for name, value in SECRETS.items():
            monkeypatch.setenv(f"TIDEFLOW_SECRET_{name}", value)
        monkeypatch.setenv("TIDEFLOW_EGRESS_RESPONSE_BYTES", "64KiB")  # below the connectors'
        executor = ExecutorSettings(egress=EgressSettings(allow_loopback=True))
        with captured_logs() as capture:
            async with (
                serving_platform(
                    fresh_dsn, gateway=admin_gateway(ADMIN), executor=executor
                ) as served,
                served.client(ADMIN) as client,
            ):
                yield client, capture


def workflow(name: str, node_type: str) -> dict[str, Any]:
    return one_node_workflow(name, {"type": node_type, "config": {}})


async def test_derived_credentials_never_leave_the_executor(platform, fresh_dsn):
    client, capture = platform
    cases = {"basic-echo": "basicapi.echo", "basic-fail": "basicapi.fail",
             "oauth-echo": "oauthapi.echo", "oauth-fail": "oauthapi.fail",
             "oauth-bad": "badoauth.echo"}  # fmt: skip
    runs = await run_each(client, {name: workflow(name, kind) for name, kind in cases.items()})

    # every path ran, and the credential was masked where it came back
    for name, prefix in (("basic-echo", "Basic"), ("oauth-echo", "Bearer")):
        assert runs[name]["status"] == "succeeded", runs[name]
        output = runs[name]["output"]["call"]
        assert output["authorization"] == f"{prefix} {MASK}", output
        assert output["said"] == f"you sent {prefix} {MASK}"
    for name, prefix in (("basic-fail", "Basic"), ("oauth-fail", "Bearer")):
        assert runs[name]["status"] == "failed", runs[name]
        [step] = runs[name]["steps"]
        assert step["error"]["type"] == "Http400"
        assert f"rejected {prefix} {MASK}" in step["error"]["message"], step["error"]
    [step] = runs["oauth-bad"]["steps"]
    assert step["error"]["type"] == "OAuthTokenError"
    assert f"invalid_client Basic {MASK}" in step["error"]["message"], step["error"]

    answers = await api_answers(client, runs)
    assert not [leaks(a) for a in answers if leaks(a)], "an API answer holds a credential"
    assert not [line for line in capture.lines if leaks(line)]
    assert await table_values(fresh_dsn, leaks) == []


async def test_the_deployments_response_cap_applies_to_plugins(platform):
    """`TIDEFLOW_EGRESS_RESPONSE_BYTES` reaches the executor's shared plugin client."""
    client, _ = platform
    assert (await client.post("/workflows", json=workflow("big", "basicapi.big"))).is_success
    assert (await client.post("/workflows/big/publish")).status_code == 201
    started = await client.post("/workflows/big/runs", json={"input": {}})
    run = await finished(client, started.json()["runId"])
    assert run["status"] == "failed", run
    [step] = run["steps"]
    assert step["error"]["type"] == "HttpResponseTooLarge"
    assert "65,536-byte cap" in step["error"]["message"]
