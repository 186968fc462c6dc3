"""One connector operation as a worker node type: its config schema and its handler.

The handler builds the request from the rendered config (path, query, header and body
params, constant parts), authenticates it, sends it through the context's HTTP client
(so the egress policy applies to every hop), follows the pagination style for at most
`maxPages` pages, and maps the output. 5xx, 429 and network errors are retryable; other
4xx, an `ok: false` answer, a denied destination are not.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from tideflow.connectors._auth import TokenCache, auth_headers
from tideflow.connectors._model import Connector, Operation, ParamIn
from tideflow.connectors._paths import get_path, mapped, set_path
from tideflow.plugins import NodeContext, NodeError, NodeTypeSpec, Runs

TIMEOUT_S = 30.0
ERROR_CHARS = 300
RESPONSE_BYTES = 4 * 1024 * 1024
"""Largest answer body read (streamed): an API answering gigabytes fails the step instead of
filling the worker's memory; a step output is far smaller anyway (1 MiB by default)."""
PAGES_BYTES = 4 * RESPONSE_BYTES
"""Largest sum of the pages one paginated step reads: its output could not be stored
anyway (a step output is 1 MiB by default), and the worker must not hold gigabytes."""
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500
UNAUTHORIZED = 401
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def config_schema(connector: Connector, operation: Operation) -> dict[str, Any]:
    """The JSON Schema of the node config: the operation's params, plus `baseUrl`
    (required when the connector has none) and `maxPages` for paginated operations."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in operation.params.items():
        properties[name] = param.json_schema()
        if param.required or param.in_ is ParamIn.PATH:  # a URL cannot leave out a segment
            required.append(name)
    properties["baseUrl"] = {
        "type": "string",
        "description": "Base URL of the API"
        + (f" (default {connector.base_url})" if connector.base_url else ""),
    }
    if connector.base_url is None:
        required.append("baseUrl")
    if operation.pagination is not None:
        properties["maxPages"] = {
            "type": "integer", "minimum": 1, "maximum": 1000,
            "default": operation.pagination.max_pages,
            "description": "Stop after this many pages.",
        }  # fmt: skip
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


class OperationHandler:
    """The handler of `connector.operation` (one per operation, sharing a token cache)."""

    def __init__(self, connector: Connector, name: str, tokens: TokenCache) -> None:
        self.connector = connector
        self.name = name
        self.operation = connector.operations[name]
        self.tokens = tokens

    async def __call__(self, config: dict[str, Any], ctx: NodeContext) -> Any:
        request = self._request(config)
        home = _origin(request["url"])  # where the credentials may go, every page long
        pagination = self.operation.pagination
        if pagination is None:
            return mapped(await self._send(request, ctx, home), self.operation.output)
        limit = int(config.get("maxPages") or pagination.max_pages)
        items: list[Any] = []
        pages = 0
        following: dict[str, Any] | None = request
        read = 0
        while following is not None and pages < limit:
            response = await self._exchange(following, ctx, home)
            read += len(response.content)
            if read > PAGES_BYTES:  # 1,000 pages of 4 MiB would be 4 GB in the worker
                raise NodeError(
                    f"{self.connector.name}.{self.name}: the pages together are larger than "
                    f"{PAGES_BYTES:,} bytes (after {pages + 1} pages; lower maxPages)",
                    type="HttpResponseTooLarge",
                )
            body = self._body(response)
            page = get_path(body, pagination.items)
            page_items = page if isinstance(page, list) else []
            items.extend(mapped(item, self.operation.output) for item in page_items)
            pages += 1
            following = self._next(following, response, body, page_items)
        return {"items": items, "pages": pages, "complete": following is None}

    def _request(self, config: dict[str, Any]) -> dict[str, Any]:
        operation = self.operation
        base = str(config.get("baseUrl") or self.connector.base_url or "")
        if urlsplit(base).scheme not in {"http", "https"}:
            raise NodeError(f"baseUrl {base!r} is not an http(s) URL", type="ConfigInvalid")
        path = operation.path
        query = dict(operation.query)
        headers = dict(self.connector.headers)
        body: dict[str, Any] | None = copy.deepcopy(operation.body)
        for name, param in operation.params.items():
            value = config.get(name)
            if value is None:
                continue
            target = param.as_ or name
            if param.in_ is ParamIn.PATH:
                path = path.replace(f"{{{name}}}", _segment(name, value))
            elif param.in_ is ParamIn.QUERY:
                query[target] = value
            elif param.in_ is ParamIn.HEADER:
                headers[target] = _header_value(name, value)
            else:
                body = body if body is not None else {}
                set_path(body, target, value)
        request: dict[str, Any] = {
            "method": operation.method,
            "url": base.rstrip("/") + "/" + path.lstrip("/"),
            "params": {k: _query_value(v) for k, v in query.items()},
            "headers": headers,
        }
        if body is not None:
            request["json"] = body
        return request

    def _next(  # noqa: PLR0911 - one return per pagination style and its end
        self, request: dict[str, Any], response: httpx.Response, body: Any, page: list[Any]
    ) -> dict[str, Any] | None:
        pagination = self.operation.pagination
        assert pagination is not None  # noqa: S101 - only called when paginating
        match pagination.style:
            case "link_header":
                found = _NEXT_LINK.search(response.headers.get("link", ""))
                if found is None:
                    return None
                return _at_url(request, urljoin(str(response.url), found[1]))
            case "next_url":
                link = get_path(body, pagination.next_path)
                if not isinstance(link, str) or not link:
                    return None
                return _at_url(request, urljoin(str(response.url), link))
            case "cursor":
                cursor = get_path(body, str(pagination.cursor_path))
                if not cursor:
                    return None
                params = request.get("params", {}) | {pagination.cursor_param: cursor}
                return request | {"params": params}
            case _:  # page numbers: an empty page is the last
                if not page:
                    return None
                params = request.get("params", {})
                number = int(params.get(pagination.page_param, 1)) + 1
                return request | {"params": params | {pagination.page_param: number}}

    async def _send(self, request: dict[str, Any], ctx: NodeContext, home: Origin) -> Any:
        return self._body(await self._exchange(request, ctx, home))

    async def _exchange(
        self, request: dict[str, Any], ctx: NodeContext, home: Origin
    ) -> httpx.Response:
        # imported here: loading the connectors (to validate a workflow offline, `tide
        # workflow validate`) must not import the worker side's node handlers
        from tideflow.nodes import EgressDenied, ResponseTooLarge  # noqa: PLC0415

        for attempt in (1, 2):
            headers, token_key = await auth_headers(self.connector.auth, ctx, self.tokens)
            where = f"{request['method']} {request['url']}"
            try:
                response = await _request(ctx.http, request, (home, headers), where)
            except EgressDenied as e:
                raise NodeError(f"{where}: {e}", type="EgressDenied") from e
            except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError) as e:
                # a request that cannot be written (say, a newline in a credential): the
                # same request fails the same way on every attempt
                raise NodeError(
                    f"{where}: {type(e).__name__}: {e}", type="HttpInvalidRequest"
                ) from e
            except ResponseTooLarge as e:  # the transport's general cap, below ours
                raise NodeError(f"{where}: {e}", type=e.error_type) from e
            except httpx.HTTPError as e:
                raise NodeError(
                    f"{where}: {type(e).__name__}: {e}", type="HttpConnectError", retryable=True
                ) from e
            if response.status_code == UNAUTHORIZED and token_key is not None:
                self.tokens.drop(token_key)  # expired or revoked early: fetch a new one
                if attempt == 1:
                    continue
            if response.is_error:
                status = response.status_code
                text = " ".join(response.text.split())[:ERROR_CHARS]
                raise NodeError(
                    f"{where} answered {status}" + (f": {text}" if text else ""),
                    type=f"Http{status}",
                    retryable=status >= SERVER_ERROR or status == TOO_MANY_REQUESTS,
                    details={"status": status},
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _body(self, response: httpx.Response) -> Any:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        operation = self.operation
        if operation.ok_path is not None and get_path(body, operation.ok_path) is not True:
            error = get_path(body, operation.error_path) if operation.error_path else None
            raise NodeError(
                f"{self.connector.name}.{self.name}: the API answered not ok"
                + (f": {error}" if error else ""),
                type="ApiError",
                details={"error": error},
            )
        return body


_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Headers about the body as sent, dropped once it is read and decoded."""


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
SEE_OTHER = 303


Origin = tuple[str, str, int | None]


def _origin(url: str | httpx.URL) -> Origin:
    parsed = httpx.URL(str(url))
    return parsed.scheme, parsed.host, parsed.port


async def _request(
    http: httpx.AsyncClient,
    request: dict[str, Any],
    credentials: tuple[Origin, dict[str, str]],
    where: str,
) -> httpx.Response:
    """Send `request`, following redirects; the credentials (the auth headers) go only to
    their origin, the operation's base URL's.

    A next-page link or a redirect may name any host; the connector's bearer token, basic
    password or API key must not travel there (httpx drops only `Authorization`, and only
    on redirects). Every hop passes the client's egress policy.
    """
    home, headers = credentials
    for _ in range(http.max_redirects + 1):
        sent = headers if _origin(request["url"]) == home else {}
        response = await _read(http, request | {"headers": request["headers"] | sent}, where)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location:
            return response
        request = _redirected(request, response, urljoin(str(response.url), location))
    raise NodeError(
        f"{where}: more than {http.max_redirects} redirects", type="HttpTooManyRedirects"
    )


def _redirected(request: dict[str, Any], response: httpx.Response, url: str) -> dict[str, Any]:
    """The request a redirect asks for (a 303, or a 301/302 after a POST, becomes a GET
    without a body, as browsers and httpx do)."""
    method = request["method"]
    status = response.status_code
    if (status == SEE_OTHER and method != "HEAD") or (status in {301, 302} and method == "POST"):
        request = {k: v for k, v in request.items() if k != "json"} | {"method": "GET"}
    return _at_url(request, url)


async def _read(http: httpx.AsyncClient, request: dict[str, Any], where: str) -> httpx.Response:
    """Send one request; the answer read to at most RESPONSE_BYTES (decoded)."""
    async with http.stream(**request, timeout=TIMEOUT_S, follow_redirects=False) as streamed:
        body = bytearray()
        async for chunk in streamed.aiter_bytes():
            body += chunk
            if len(body) > RESPONSE_BYTES:
                raise NodeError(
                    f"{where}: the answer is larger than {RESPONSE_BYTES:,} bytes",
                    type="HttpResponseTooLarge",
                )
    headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _FRAMING]
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
    )


def _at_url(request: dict[str, Any], url: str) -> dict[str, Any]:
    """The request sent to a next-page URL, which carries its own query (httpx would
    drop a URL's query for any `params`, even empty ones)."""
    return {k: v for k, v in request.items() if k != "params"} | {"url": url}


_FORBIDDEN_IN_HEADERS = frozenset("\r\n\x00")


def _header_value(name: str, value: Any) -> str:
    """A header param's value; CR, LF and NUL (a header injection) or non-ASCII text cannot
    be sent, whatever the attempt, so they fail the step for good."""
    text = str(value)
    if not text.isascii() or _FORBIDDEN_IN_HEADERS.intersection(text):
        raise NodeError(
            f"header parameter {name!r} holds CR, LF, NUL or non-ASCII characters",
            type="HttpInvalidRequest",
        )
    return text


def _segment(name: str, value: Any) -> str:
    """A path param as one path segment: escaped, never empty, never `.` or `..` (which a
    URL resolves, so `owner: ..` from a run's input would reach another endpoint of the
    API with the connector's credentials)."""
    text = str(value)
    if not text:
        raise NodeError(f"path parameter {name!r} is empty", type="ConfigInvalid")
    if text in {".", ".."}:
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def operation_specs(connector: Connector, tokens: TokenCache) -> list[NodeTypeSpec]:
    """Every operation of a connector as a worker node type `<connector>.<operation>`."""
    specs = []
    for name, operation in connector.operations.items():
        schema = config_schema(connector, operation)
        schema["title"] = f"{connector.name}.{name}"
        specs.append(
            NodeTypeSpec(
                name=f"{connector.name}.{name}",
                runs=Runs.WORKER,
                handler=OperationHandler(connector, name, tokens),
                title=operation.title or f"{connector.title or connector.name}: {name}",
                description=operation.description,
                config_schema=schema,
                icon=connector.icon,
                category=connector.title or connector.name,
            )
        )
    return specs
