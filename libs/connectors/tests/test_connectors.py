"""Connectors against a local server that checks every request: auth headers, paths,
query and body mapping, the pagination styles, OAuth2 token caching, error semantics,
and the egress policy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tideflow.connectors import (
    ConnectorError,
    ConnectorSettings,
    TokenCache,
    load_connector,
    node_types,
    operation_specs,
)
from tideflow.connectors._operation import RESPONSE_BYTES
from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import EgressPolicy, GuardedTransport
from tideflow.plugins import NodeContext, NodeError, NodeTypeSpec, load_registry
from tideflow.runtime import EmbeddedServer

pytestmark = pytest.mark.integration

SECRETS = {
    "GITHUB_TOKEN": "ghp-test", "SLACK_BOT_TOKEN": "xoxb-test", "JSONAPI_TOKEN": "ja-test",
    "API_USER": "ann", "API_PASSWORD": "pa:ss", "API_KEY": "k-123",
    "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "NEWLINE_TOKEN": "tok\nX-Evil: 1",
}  # fmt: skip


class Api:
    """What the server saw, and the answers it gives."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.token_requests = 0
        self.tokens_issued: list[str] = []
        self.revoked: set[str] = set()
        self.fail_next: int | None = None

    async def record(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        seen = {
            "method": request.method, "path": request.url.path,
            "query": dict(request.query_params), "headers": dict(request.headers),
            "json": (await request.json()) if body else None,
        }  # fmt: skip
        self.seen.append(seen)
        return seen


API = Api()


def _bearer(seen: dict[str, Any], token: str) -> Response | None:
    if seen["headers"].get("authorization") != f"Bearer {token}":
        return JSONResponse({"message": "Bad credentials"}, status_code=401)
    return None


async def github_issues(request: Request) -> Response:
    seen = await API.record(request)
    if denied := _bearer(seen, "ghp-test"):
        return denied
    assert seen["headers"]["accept"] == "application/vnd.github+json"
    owner, repo = request.path_params["owner"], request.path_params["repo"]
    if request.method == "POST":
        body = seen["json"]
        number = 7
        return JSONResponse(
            {"number": number, "id": 99, "state": "open", "title": body["title"],
             "html_url": f"https://github.test/{owner}/{repo}/issues/{number}"},
            status_code=201,
        )  # fmt: skip
    page = int(seen["query"].get("page", "1"))
    per_page = int(seen["query"].get("per_page", "30"))
    items = [{"number": (page - 1) * per_page + i, "title": f"t{i}", "state": "open",
              "html_url": "u"} for i in range(per_page)]  # fmt: skip
    headers = {}
    if page < 3:
        nxt = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        headers["Link"] = (f'<{nxt}?page={page + 1}&per_page={per_page}>; rel="next", '
                           f'<{nxt}?page=3&per_page={per_page}>; rel="last"')  # fmt: skip
    return JSONResponse(items, headers=headers)


async def slack_post(request: Request) -> Response:
    seen = await API.record(request)
    if seen["headers"].get("authorization") != "Bearer xoxb-test":
        return JSONResponse({"ok": False, "error": "invalid_auth"})
    if seen["json"]["channel"] == "#nowhere":
        return JSONResponse({"ok": False, "error": "channel_not_found"})
    return JSONResponse({"ok": True, "channel": "C1", "ts": "1700000000.0001"})


async def slack_channels(request: Request) -> Response:
    seen = await API.record(request)
    cursor = seen["query"].get("cursor", "")
    pages = {"": ("c2", ["a", "b"]), "c2": ("c3", ["c"]), "c3": ("", ["d"])}
    nxt, names = pages[cursor]
    return JSONResponse({"ok": True, "channels": [{"id": n.upper(), "name": n} for n in names],
                         "response_metadata": {"next_cursor": nxt}})  # fmt: skip


async def jsonapi(request: Request) -> Response:
    seen = await API.record(request)
    if denied := _bearer(seen, "ja-test"):
        return denied
    if request.method == "POST":
        data = seen["json"]["data"]
        return JSONResponse({"data": data | {"id": "42"}}, status_code=201)
    offset = int(seen["query"].get("page[offset]", "0"))
    data = [{"id": str(offset + i), "type": "articles", "attributes": {"n": offset + i}}
            for i in range(2)]  # fmt: skip
    links = {"next": f"/api/articles?page[offset]={offset + 2}"} if offset < 4 else {}
    return JSONResponse({"data": data, "links": links})


async def secured_route(request: Request) -> Response:
    seen = await API.record(request)
    auth = seen["headers"].get("authorization", "")
    if request.path_params["kind"] == "basic":
        ok = auth == "Basic " + base64.b64encode(b"ann:pa:ss").decode()
    elif request.path_params["kind"] == "key":
        ok = seen["headers"].get("x-api-key") == "Token k-123"
    else:
        token = auth.removeprefix("Bearer ")
        ok = token in API.tokens_issued and token not in API.revoked
    if API.fail_next is not None:
        status, API.fail_next = API.fail_next, None
        return JSONResponse({"message": "nope"}, status_code=status)
    return JSONResponse({"ok": True}) if ok else JSONResponse({}, status_code=401)


async def token(request: Request) -> Response:
    API.token_requests += 1
    form = dict(parse_qsl((await request.body()).decode()))
    basic = base64.b64encode(b"cid:csecret").decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "read"
    await asyncio.sleep(0.05)  # concurrent steps must share this one request
    issued = f"tok-{API.token_requests}"
    API.tokens_issued.append(issued)
    return JSONResponse({"access_token": issued, "token_type": "bearer", "expires_in": 3600})


async def hop(request: Request) -> Response:
    """Send the client on to `to`: as the next page's link, or as a redirect."""
    seen = await API.record(request)
    if seen["headers"].get("x-api-key") != "Token k-123":
        return JSONResponse({}, status_code=401)
    to = seen["query"].get("to", "")
    if request.path_params["mode"] == "loop":
        return Response(status_code=307, headers={"location": str(request.url)})
    if request.path_params["mode"] == "redirect":
        return Response(status_code=302, headers={"location": to})
    return JSONResponse({"items": [1], "next": to})


async def elsewhere_route(request: Request) -> Response:
    ELSEWHERE.append(dict(request.headers))
    return JSONResponse({"items": [2]})


ELSEWHERE: list[dict[str, str]] = []


@pytest.fixture(scope="module")
async def elsewhere() -> AsyncIterator[str]:
    """Another origin (its own port) that records the headers it is sent."""
    app = Starlette(routes=[Route("/{path:path}", elsewhere_route)])
    srv = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await srv.start_serving()
    yield f"http://127.0.0.1:{srv.bound_port}"
    srv.should_exit = True
    await task


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[str]:
    app = Starlette(routes=[
        Route("/repos/{owner}/{repo}/issues", github_issues, methods=["GET", "POST"]),
        Route("/chat.postMessage", slack_post, methods=["POST"]),
        Route("/conversations.list", slack_channels),
        Route("/api/articles", jsonapi, methods=["GET", "POST"]),
        Route("/secured/{kind}", secured_route),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/hop/{mode}", hop),
    ])  # fmt: skip
    srv = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await srv.start_serving()
    yield f"http://127.0.0.1:{srv.bound_port}"
    srv.should_exit = True
    await task


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    policy = EgressPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy), trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def types() -> dict[str, NodeTypeSpec]:
    return {s.name: s for s in node_types() if isinstance(s, NodeTypeSpec)}


def ctx(http: httpx.AsyncClient) -> NodeContext:
    return NodeContext(
        run_id="r", node_id="n", attempt=1, tenant_id="default", node_type="x",
        idempotency_key=None, deadline=None, http=http, secrets=SECRETS,
        logger=logging.getLogger("test"),
    )  # fmt: skip


async def call(spec: NodeTypeSpec, config: dict[str, Any], http: httpx.AsyncClient) -> Any:
    return await spec.handler(config, ctx(http))  # type: ignore[call-arg,misc]


async def test_github_create_issue_maps_path_body_and_output(server, http, types):
    API.seen.clear()
    output = await call(types["github.create_issue"], {
        "baseUrl": server, "owner": "acme", "repo": "widgets", "title": "Broken",
        "labels": ["bug"], "body": "It broke",
    }, http)  # fmt: skip
    assert output == {"number": 7, "url": "https://github.test/acme/widgets/issues/7",
                      "id": 99, "state": "open"}  # fmt: skip
    [seen] = API.seen
    assert (seen["method"], seen["path"]) == ("POST", "/repos/acme/widgets/issues")
    assert seen["json"] == {"title": "Broken", "labels": ["bug"], "body": "It broke"}
    assert seen["headers"]["x-github-api-version"] == "2022-11-28"


async def test_github_list_follows_link_headers_within_max_pages(server, http, types):
    API.seen.clear()
    spec = types["github.list_issues"]
    everything = await call(spec, {"baseUrl": server, "owner": "a", "repo": "b",
                                   "perPage": 2, "state": "all"}, http)  # fmt: skip
    assert everything["pages"] == 3
    assert everything["complete"] is True
    assert [i["number"] for i in everything["items"]] == [0, 1, 2, 3, 4, 5]
    assert API.seen[0]["query"] == {"per_page": "2", "state": "all"}
    assert API.seen[1]["query"] == {"page": "2", "per_page": "2"}
    assert all(s["headers"]["authorization"] == "Bearer ghp-test" for s in API.seen)
    bounded = await call(spec, {"baseUrl": server, "owner": "a", "repo": "b", "perPage": 2,
                                "maxPages": 2}, http)  # fmt: skip
    assert (bounded["pages"], bounded["complete"], len(bounded["items"])) == (2, False, 4)


async def test_path_params_are_escaped(server, http, types):
    API.seen.clear()
    with pytest.raises(NodeError) as error:
        await call(types["github.create_issue"], {"baseUrl": server, "owner": "../x",
                                                  "repo": "y", "title": "t"}, http)  # fmt: skip
    assert error.value.type == "Http404"
    assert not error.value.retryable
    # `..` (say, from a webhook's body) used to climb out: /repos/../y/issues is /y/issues
    out = await call(types["github.create_issue"], {"baseUrl": server, "owner": "..",
                                                    "repo": "y", "title": "t"}, http)  # fmt: skip
    assert out["number"] == 7
    assert API.seen[-1]["path"] == "/repos/../y/issues"  # one segment, as the route saw it
    with pytest.raises(NodeError) as error:
        await call(types["github.create_issue"], {"baseUrl": server, "owner": "",
                                                  "repo": "y", "title": "t"}, http)  # fmt: skip
    assert (error.value.type, error.value.retryable) == ("ConfigInvalid", False)


def test_path_params_are_required_even_when_the_file_forgets_it():
    text = SECURED.format(base="http://x", auth="{type: none}").replace("required: true, ", "")
    [spec] = operation_specs(load_connector(text, source="t"), TokenCache())
    assert spec.config_schema is not None
    assert "kind" in spec.config_schema["required"]


async def test_slack_post_message_and_not_ok_answers(server, http, types):
    API.seen.clear()
    spec = types["slack.post_message"]
    out = await call(spec, {"baseUrl": server, "channel": "#ops", "text": "hi",
                            "threadTs": "1.2"}, http)  # fmt: skip
    assert out == {"channel": "C1", "ts": "1700000000.0001"}
    assert API.seen[0]["json"] == {"channel": "#ops", "text": "hi", "thread_ts": "1.2"}
    assert API.seen[0]["headers"]["authorization"] == "Bearer xoxb-test"
    with pytest.raises(NodeError) as error:
        await call(spec, {"baseUrl": server, "channel": "#nowhere", "text": "x"}, http)
    assert (error.value.type, error.value.retryable) == ("ApiError", False)
    assert "channel_not_found" in str(error.value)


async def test_pages_together_are_read_to_a_cap(server, http, types, monkeypatch):
    """Each page was capped, their sum was not: maxPages 1000 of 4 MiB held 4 GB."""
    monkeypatch.setattr("tideflow.connectors._operation.PAGES_BYTES", 300)
    spec = types["github.list_issues"]
    with pytest.raises(NodeError) as error:
        await call(spec, {"baseUrl": server, "owner": "a", "repo": "b", "perPage": 2}, http)
    assert (error.value.type, error.value.retryable) == ("HttpResponseTooLarge", False)
    assert "pages together" in str(error.value)


async def test_slack_cursor_pagination(server, http, types):
    out = await call(types["slack.list_channels"], {"baseUrl": server, "limit": 2}, http)
    assert [c["name"] for c in out["items"]] == ["a", "b", "c", "d"]
    assert out["pages"] == 3


async def test_jsonapi_create_and_next_url_pagination(server, http, types):
    API.seen.clear()
    created = await call(types["jsonapi.create"], {
        "baseUrl": f"{server}/api", "type": "articles", "resourceType": "articles",
        "attributes": {"title": "Hello"},
    }, http)  # fmt: skip
    assert created == {"type": "articles", "attributes": {"title": "Hello"}, "id": "42"}
    assert API.seen[0]["json"] == {"data": {"type": "articles", "attributes": {"title": "Hello"}}}
    assert API.seen[0]["headers"]["content-type"] == "application/vnd.api+json"
    listed = await call(types["jsonapi.list"], {"baseUrl": f"{server}/api", "type": "articles"},
                        http)  # fmt: skip
    assert [i["id"] for i in listed["items"]] == ["0", "1", "2", "3", "4", "5"]


SECURED = """
name: secured
baseUrl: {base}
auth: {auth}
operations:
  get:
    path: /secured/{{kind}}
    params:
      kind: {{in: path, required: true, type: string}}
"""


def secured(server: str, auth: str, tokens: TokenCache | None = None) -> NodeTypeSpec:
    connector = load_connector(SECURED.format(base=server, auth=auth), source="t.yaml")
    [spec] = operation_specs(connector, tokens or TokenCache())
    return spec


async def test_basic_and_api_key_auth(server, http):
    basic = secured(server, "{type: basic, usernameSecret: API_USER, passwordSecret: API_PASSWORD}")
    assert await call(basic, {"kind": "basic"}, http) == {"ok": True}
    key = secured(server, "{type: api_key, secret: API_KEY, header: X-API-Key, prefix: 'Token '}")
    assert await call(key, {"kind": "key"}, http) == {"ok": True}


HOPS = """
name: hops
baseUrl: {base}
auth: {{type: api_key, secret: API_KEY, header: X-API-Key, prefix: 'Token '}}
operations:
  page:
    path: /hop/page
    params: {{to: {{in: query, type: string}}}}
    pagination: {{style: next_url, items: items, nextPath: next}}
  redirect:
    path: /hop/redirect
    params: {{to: {{in: query, type: string}}}}
"""


async def test_credentials_go_only_to_the_base_urls_origin(server, elsewhere):
    """A next-page link or a redirect to another host used to carry the connector's API
    key (and, for next-page links, its bearer token or basic password) there."""
    page, redirect = operation_specs(load_connector(HOPS.format(base=server), source="h.yaml"),
                                     TokenCache())  # fmt: skip
    policy = EgressPolicy(allow_loopback=True)
    transport = GuardedTransport(policy)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        ELSEWHERE.clear()
        listed = await call(page, {"to": f"{elsewhere}/more"}, client)
        assert (listed["items"], listed["complete"]) == ([1, 2], True)
        assert await call(redirect, {"to": f"{elsewhere}/landing"}, client) == {"items": [2]}
        assert len(ELSEWHERE) == 2
        assert not [h for h in ELSEWHERE if "x-api-key" in h or "authorization" in h]
        home = await call(redirect, {"to": f"{server}/secured/key"}, client)
        assert home == {"ok": True}  # a redirect within the origin keeps them
        with pytest.raises(NodeError) as error:
            await call(redirect, {"to": f"{server}/hop/loop"}, client)
        assert (error.value.type, error.value.retryable) == ("HttpTooManyRedirects", False)


HEADERS = """
name: headers
baseUrl: {base}
auth: {auth}
operations:
  get:
    path: /secured/basic
    params:
      rid: {{in: header, as: X-Request-Id, type: string}}
"""


async def test_requests_that_cannot_be_written_fail_for_good(server, http):
    """CR/LF/NUL or non-ASCII in a header param, or a newline in a secret, made a
    LocalProtocolError (retried as a connection error) or a bare UnicodeEncodeError."""
    none, bearer = (
        operation_specs(load_connector(HEADERS.format(base=server, auth=auth), source="h"),
                        TokenCache())[0]
        for auth in ("{type: none}", "{type: bearer, secret: NEWLINE_TOKEN}")
    )  # fmt: skip
    for value in ("a\r\nX-Evil: 1", "a\x00b", "caf\u00e9"):
        with pytest.raises(NodeError) as error:
            await call(none, {"rid": value}, http)
        assert (error.value.type, error.value.retryable) == ("HttpInvalidRequest", False)
    with pytest.raises(NodeError) as error:
        await call(bearer, {}, http)
    assert (error.value.type, error.value.retryable) == ("HttpInvalidRequest", False)


async def test_oauth2_token_is_cached_shared_and_renewed_after_a_401(server, http):
    auth = (
        "{type: oauth2_client_credentials, tokenUrl: '%s/oauth/token', "
        "clientIdSecret: CLIENT_ID, clientSecretSecret: CLIENT_SECRET, scope: read}"
    )
    tokens = TokenCache()
    spec = secured(server, auth % server, tokens)
    before = API.token_requests
    results = await asyncio.gather(*[call(spec, {"kind": "oauth"}, http) for _ in range(10)])
    assert results == [{"ok": True}] * 10
    assert API.token_requests - before == 1
    assert tokens.fetches == 1
    API.revoked.add(API.tokens_issued[-1])  # the server revokes it before it expires
    assert await call(spec, {"kind": "oauth"}, http) == {"ok": True}
    assert API.token_requests - before == 2


async def test_errors_are_retryable_only_when_a_retry_can_help(server, http):
    spec = secured(server, "{type: basic, usernameSecret: API_USER, passwordSecret: API_PASSWORD}")
    for status, retryable in ((503, True), (429, True), (422, False)):
        API.fail_next = status
        with pytest.raises(NodeError) as error:
            await call(spec, {"kind": "basic"}, http)
        assert (error.value.type, error.value.retryable) == (f"Http{status}", retryable)
    missing = secured(server, "{type: bearer, secret: NOT_SET}")
    with pytest.raises(NodeError) as error:
        await call(missing, {"kind": "basic"}, http)
    assert error.value.type == "SecretNotFound"


async def test_the_egress_policy_applies(types):
    strict = EgressPolicy()  # loopback and metadata refused
    async with httpx.AsyncClient(transport=GuardedTransport(strict), trust_env=False) as client:
        for base in ("http://169.254.169.254", "http://127.0.0.1:9"):
            with pytest.raises(NodeError) as error:
                await call(types["slack.post_message"], {"baseUrl": base, "channel": "c"}, client)
            assert (error.value.type, error.value.retryable) == ("EgressDenied", False)


def test_generated_schemas_validate_nodes_by_name():
    registry = load_registry()
    schema = registry.types["github.create_issue"].config_schema
    assert schema is not None
    assert schema["required"] == ["owner", "repo", "title"]
    assert registry.types["jsonapi.list"].config_schema["required"] == ["type", "baseUrl"]  # type: ignore[index]
    document = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"nodes": [{"id": "file_bug", "type": "github.create_issue",
                            "config": {"owner": "a", "repo": "b", "titel": "typo"}}]},
    }  # fmt: skip
    problems = validate_definition(document, registry.types)
    assert {p.code for p in problems} == {ProblemCode.INVALID_CONFIG}
    assert all("file_bug" in p.message for p in problems)
    assert any("'title' is a required property" in p.message for p in problems)


def test_bad_connector_files_are_reported_not_fatal(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("name: broken\noperations: {x: {path: '/a/{id}'}}\n")
    (tmp_path / "junk.yml").write_text(": : :\n")
    (tmp_path / "dup.yaml").write_text("name: github\noperations: {x: {path: /x}}\n")
    (tmp_path / "extra.yaml").write_text(
        "name: extra\nbaseUrl: http://x\noperations: {ping: {path: /ping}}\n"
    )
    # each used to take every connector down with it (a UnicodeDecodeError, an
    # IsADirectoryError or a RecursionError out of the entry point)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "deep.yaml").write_text("name: deep\nheaders: " + "[" * 5000 + "]" * 5000)
    declared = node_types(ConnectorSettings(path=str(tmp_path)))
    names = {d.name for d in declared}
    assert {"extra.ping", "github.create_issue"} <= names
    failures = {d.name: d.error for d in declared if not isinstance(d, NodeTypeSpec)}
    assert set(failures) == {
        "connector broken.yaml", "connector junk.yml", "github", "connector latin1.yaml",
        "connector folder.yaml", "connector deep.yaml",
    }  # fmt: skip
    assert "UnicodeDecodeError" in failures["connector latin1.yaml"]
    assert "nested too deeply" in failures["connector deep.yaml"]
    assert "path params" in failures["connector broken.yaml"]
    with pytest.raises(ConnectorError, match="auth bearer needs secret"):
        load_connector("name: x\nauth: {type: bearer}\noperations: {a: {path: /}}", source="x")


async def test_a_cached_oauth2_token_is_only_for_the_tenant_and_secret_that_fetched_it(
    server, http
):
    auth = (
        "{type: oauth2_client_credentials, tokenUrl: '%s/oauth/token', "
        "clientIdSecret: CLIENT_ID, clientSecretSecret: CLIENT_SECRET, scope: read}"
    )
    tokens = TokenCache()
    spec = secured(server, auth % server, tokens)
    assert await call(spec, {"kind": "oauth"}, http) == {"ok": True}
    assert tokens.fetches == 1
    # another tenant that knows the client id (often public) but not the client secret
    for tenant, secret in (("other", "wrong"), ("default", "wrong"), ("other", "csecret")):
        intruder = dataclasses.replace(
            ctx(http), tenant_id=tenant, secrets={**SECRETS, "CLIENT_SECRET": secret}
        )
        before = tokens.fetches
        with contextlib.suppress(NodeError):  # the token endpoint refuses a wrong secret
            await spec.handler({"kind": "oauth"}, intruder)  # type: ignore[call-arg,misc]
        assert tokens.fetches == before + 1, (tenant, secret)  # never the cached token


async def test_an_endless_answer_fails_for_good_without_being_read_whole():
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:  # gigabytes if it were read whole
            sent += 1
            yield b"[" + b"1," * 32_767 + b"1]"

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        spec = secured("http://api.test", "{type: none}")
        with pytest.raises(NodeError) as error:
            await call(spec, {"kind": "x"}, client)
    assert (error.value.type, error.value.retryable) == ("HttpResponseTooLarge", False)
    assert sent * 65_536 <= RESPONSE_BYTES + 2 * 65_536


async def test_the_transports_general_cap_below_the_connectors_is_the_same_error(server, types):
    """The deployment's response cap (TIDEFLOW_EGRESS_RESPONSE_BYTES) may be below the
    connector's own: the transport's refusal is a non-retryable HttpResponseTooLarge too."""
    small = GuardedTransport(EgressPolicy(allow_loopback=True), response_bytes=64 * 1024)
    async with httpx.AsyncClient(transport=small, trust_env=False) as client:
        listing = types["github.list_issues"]
        with pytest.raises(NodeError) as error:
            await call(listing, {"baseUrl": server, "owner": "a", "repo": "b",
                                 "perPage": 2000}, client)  # fmt: skip
        assert (error.value.type, error.value.retryable) == ("HttpResponseTooLarge", False)
        assert "65,536-byte cap" in str(error.value)
