"""The connector file format (YAML): a base URL, an auth scheme, named operations.

```yaml
name: github
baseUrl: https://api.github.com
auth: {type: bearer, secret: GITHUB_TOKEN}
operations:
  create_issue:
    method: POST
    path: /repos/{owner}/{repo}/issues
    params:
      owner: {in: path, required: true, type: string}
      title: {in: body, required: true, type: string}
    output: {number: number, url: html_url}
```

Each operation becomes the node type `<connector>.<operation>` whose config schema is made
of its params (see `_schema`). docs/connectors.md describes every field.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class AuthType(StrEnum):
    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"
    API_KEY = "api_key"
    OAUTH2 = "oauth2_client_credentials"


class Auth(Model):
    """How requests authenticate; every credential is the *name* of a secret."""

    type: AuthType = AuthType.NONE
    secret: str | None = None
    """bearer: the token; api_key: the key."""
    header: str = "X-API-Key"
    """api_key: the header that carries the key."""
    prefix: str | None = None
    """api_key: put before the key in the header (e.g. `Token `)."""
    username_secret: str | None = None
    password_secret: str | None = None
    token_url: str | None = None
    client_id_secret: str | None = None
    client_secret_secret: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        needs = {
            AuthType.BEARER: ("secret",),
            AuthType.API_KEY: ("secret",),
            AuthType.BASIC: ("username_secret", "password_secret"),
            AuthType.OAUTH2: ("token_url", "client_id_secret", "client_secret_secret"),
        }.get(self.type, ())
        missing = [to_camel(n) for n in needs if not getattr(self, n)]
        if missing:
            raise ValueError(f"auth {self.type} needs {', '.join(missing)}")
        return self


class Pagination(Model):
    """How to fetch every page: the items of each page are concatenated."""

    style: Literal["link_header", "cursor", "page", "next_url"]
    items: str = ""
    """Body path of a page's items (empty: the body is the list)."""
    cursor_path: str | None = None
    """cursor: body path of the next cursor (empty or missing: last page)."""
    cursor_param: str = "cursor"
    """cursor: the query parameter that sends it."""
    page_param: str = "page"
    """page: the query parameter of the page number (from 1); an empty page is the last."""
    next_path: str = "links.next"
    """next_url: body path of the next page's URL (JSON:API `links.next`)."""
    max_pages: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _cursor(self) -> Pagination:
        if self.style == "cursor" and not self.cursor_path:
            raise ValueError("cursor pagination needs cursorPath")
        return self


class ParamIn(StrEnum):
    PATH = "path"
    QUERY = "query"
    BODY = "body"
    HEADER = "header"


class Param(BaseModel):
    """One config field: where it goes, and its JSON Schema (the other keys)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="allow")

    in_: ParamIn = Field(default=ParamIn.BODY, alias="in")
    required: bool = False
    as_: str | None = Field(default=None, alias="as")
    """The name in the request (body: a dotted path, e.g. `data.attributes.title`)."""

    def json_schema(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Operation(Model):
    description: str = ""
    title: str | None = None
    method: Method = "GET"
    path: str
    params: dict[str, Param] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    """Constant query parameters."""
    body: dict[str, Any] | None = None
    """Constant body fields; params with `in: body` are merged into it."""
    pagination: Pagination | None = None
    output: str | dict[str, str] | None = None
    """Body path, or {key: body path}; with pagination it maps each item."""
    ok_path: str | None = None
    """APIs that answer 200 with `ok: false` (Slack): a body path that must be true."""
    error_path: str | None = None
    """Where such an API puts its error (Slack: `error`)."""

    @model_validator(mode="after")
    def _path_params(self) -> Operation:
        named = set(_PATH_PARAM.findall(self.path))
        declared = {k for k, p in self.params.items() if p.in_ is ParamIn.PATH}
        if named != declared:
            raise ValueError(
                f"path {self.path!r} names {sorted(named)} but the path params are "
                f"{sorted(declared)}"
            )
        return self


class Connector(Model):
    name: str
    title: str | None = None
    description: str = ""
    icon: str | None = None
    base_url: str | None = None
    """Default base URL; a node may override it with `baseUrl` (GitHub Enterprise)."""
    auth: Auth = Auth()
    headers: dict[str, str] = Field(default_factory=dict)
    operations: dict[str, Operation]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _WORD.match(value):
            raise ValueError("a connector name is snake_case (it prefixes its node types)")
        return value

    @field_validator("operations")
    @classmethod
    def _operations(cls, value: dict[str, Operation]) -> dict[str, Operation]:
        bad = [name for name in value if not _WORD.match(name)]
        if bad:
            raise ValueError(f"operation names are snake_case: {bad}")
        if not value:
            raise ValueError("a connector needs at least one operation")
        return value


def path_params(path: str) -> list[str]:
    return _PATH_PARAM.findall(path)
