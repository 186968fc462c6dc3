"""Credentials for a connector's requests, read from the run's tenant's secrets.

OAuth2 client credentials tokens are cached per tenant, token URL, client id, a digest of
the client secret and scope until shortly before they expire (a tenant that knows another
one's client id, or a wrong secret, never gets a token fetched with the right one);
concurrent steps share one token request (a lock per key), and a 401 drops the cached
token so the next attempt fetches a fresh one.

Credentials derived from secrets are handed to the executor's redactor
(`ctx.sensitive`) before a request carries them: the base64 `user:password` of a Basic
header (the executor knows the two secrets, not their encoding) and every token fetched
at run time, so a server echoing `Authorization` back, or an error quoting it, cannot
leak them into step output, events or logs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field

import httpx

from tideflow.connectors._model import Auth, AuthType
from tideflow.plugins import NodeContext, NodeError

EXPIRY_MARGIN_S = 30.0
DEFAULT_EXPIRY_S = 3600.0
SERVER_ERROR = 500


TokenKey = tuple[str, str, str, str, str]
"""(tenant, token URL, client id, SHA-256 of the client secret, scope)."""


@dataclass(slots=True)
class TokenCache:
    """OAuth2 access tokens of this process, by `TokenKey`."""

    _tokens: dict[TokenKey, tuple[str, float]] = field(default_factory=dict)
    _locks: dict[TokenKey, asyncio.Lock] = field(default_factory=dict)
    fetches: int = 0
    """Token requests made (tests and metrics read it)."""

    def drop(self, key: TokenKey) -> None:
        self._tokens.pop(key, None)

    async def token(self, auth: Auth, ctx: NodeContext) -> tuple[str, TokenKey]:
        client_id = ctx.secret(str(auth.client_id_secret))
        digest = hashlib.sha256(ctx.secret(str(auth.client_secret_secret)).encode()).hexdigest()
        key = (ctx.tenant_id, str(auth.token_url), client_id, digest, auth.scope or "")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0], key
            token, expires_in = await self._fetch(auth, client_id, ctx)
            self._tokens[key] = (token, time.monotonic() + max(0.0, expires_in - EXPIRY_MARGIN_S))
            return token, key

    async def _fetch(self, auth: Auth, client_id: str, ctx: NodeContext) -> tuple[str, float]:
        self.fetches += 1
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        # imported here, as in `_operation`: validating offline must not load the nodes
        from tideflow.nodes import ResponseTooLarge  # noqa: PLC0415

        secret = ctx.secret(str(auth.client_secret_secret))
        # the Basic header httpx builds from them: a token endpoint may echo it in an error
        ctx.sensitive(_basic(client_id, secret))
        try:
            response = await ctx.http.post(
                str(auth.token_url), data=form, auth=httpx.BasicAuth(client_id, secret),
                headers={"Accept": "application/json"}, timeout=30,
            )  # fmt: skip
        except ResponseTooLarge as e:  # a token endpoint answering megabytes: not a token
            raise NodeError(f"token request failed: {e}", type="OAuthTokenError") from e
        except httpx.HTTPError as e:
            raise NodeError(
                f"token request failed: {e}", type="OAuthTokenError", retryable=True
            ) from e
        if response.status_code >= SERVER_ERROR:
            raise NodeError(
                f"token endpoint answered {response.status_code}", type="OAuthTokenError",
                retryable=True,
            )  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.is_error or not isinstance(token, str):
            error = body.get("error") if isinstance(body, dict) else None
            raise NodeError(
                f"token endpoint answered {response.status_code}" + (f": {error}" if error else ""),
                type="OAuthTokenError",
            )
        ctx.sensitive(token)  # before anything can report it (an error naming it, a log line)
        expires = body.get("expires_in", DEFAULT_EXPIRY_S)
        return token, float(expires) if isinstance(expires, int | float) else DEFAULT_EXPIRY_S


def _basic(user: str, password: str) -> str:
    """The credentials of a Basic header, as httpx's `BasicAuth` encodes them too."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


async def auth_headers(
    auth: Auth, ctx: NodeContext, tokens: TokenCache
) -> tuple[dict[str, str], TokenKey | None]:
    """The headers that authenticate a request, and the OAuth2 cache key (if any)."""
    match auth.type:
        case AuthType.BEARER:
            return {"Authorization": f"Bearer {ctx.secret(str(auth.secret))}"}, None
        case AuthType.API_KEY:
            return {auth.header: f"{auth.prefix or ''}{ctx.secret(str(auth.secret))}"}, None
        case AuthType.BASIC:
            encoded = _basic(ctx.secret(str(auth.username_secret)),
                             ctx.secret(str(auth.password_secret)))  # fmt: skip
            # neither secret appears in it as such: a server echoing the header, or an
            # error quoting it, would give the pair away unless it is masked too
            ctx.sensitive(encoded)
            return {"Authorization": f"Basic {encoded}"}, None
        case AuthType.OAUTH2:
            token, key = await tokens.token(auth, ctx)
            ctx.sensitive(token)  # a cached token: this step's redactor may not know it yet
            return {"Authorization": f"Bearer {token}"}, key
        case _:
            return {}, None
