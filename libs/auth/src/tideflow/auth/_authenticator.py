"""From an `Authorization` header to a `Principal`: every kind of credential in one place.

- `Bearer <admin token>`: the platform admin (admin of `default`, may manage tenants).
- `Bearer tfk_...`: an API token; looked up by id on every request, so a revoked token
  stops working at once (no cache to outlive the revocation).
- `Bearer <JWT>`: a user's access token, verified against the signing keys, then the user
  is looked up by id on every request (one primary-key read, as for API tokens): a user
  deleted or disabled is refused at its next request, and a role change applies at once
  (the stored role wins over the token's claim), on every service that shares this class.
- `Basic base64(user:secret)`: for clients that only speak Basic (service accounts); the
  secret is an API token, or the user's password. A password takes a guess from the
  username's bucket (`password_limiter`), the one `POST /auth/login` draws from, and a
  right one gives it back: Basic on any route would otherwise be an unthrottled way to
  guess passwords, while a service account sending its password on every request must
  not be slowed.
"""

from __future__ import annotations

import base64
import hmac
from typing import TYPE_CHECKING

from tideflow.auth import _tokens
from tideflow.auth._errors import InvalidCredentials
from tideflow.auth._login_audit import record_failed_login
from tideflow.auth._passwords import PasswordHasher
from tideflow.auth._quotas import check_password_rate, return_password_guess
from tideflow.auth._roles import DEFAULT_TENANT, Principal, PrincipalKind, Role

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tideflow.auth._jwt import KeyRing
    from tideflow.auth._ratelimit import RateLimiter
    from tideflow.store import AuditLog, Identities

PLATFORM_ADMIN = "admin"


class Authenticator:
    """Resolves credentials; `open` (no admin token configured) trusts every caller."""

    def __init__(
        self,
        *,
        admin_token: str | None,
        identities: Identities | None = None,
        keys: KeyRing | None = None,
        passwords: PasswordHasher | None = None,
        password_limiter: RateLimiter | None = None,
    ) -> None:
        self._admin_token = admin_token
        self.identities = identities
        self.keys = keys
        self.passwords = passwords or PasswordHasher()
        self.password_limiter = password_limiter
        self.on_password_refused: Callable[[str], Awaitable[None]] | None = None
        """Called with the username when an HTTP Basic password is wrong (audited as
        `login.failed`, as a failed `POST /auth/login` is: `guard_passwords`)."""

    def guard_passwords(self, limiter: RateLimiter, audit_log: AuditLog) -> None:
        """Treat HTTP Basic passwords as `POST /auth/login` treats them, on any service:
        a guess taken from the username's bucket in `limiter` (429 when it is empty), and
        a wrong one audited as `login.failed` in the user's tenant with the client address.
        Hooks already set (the gateway's, which `tide dev` shares) are kept."""
        if self.password_limiter is None:
            self.password_limiter = limiter
        if self.on_password_refused is None and self.identities is not None:
            identities = self.identities

            async def refused(username: str) -> None:
                await record_failed_login(identities, audit_log, username)

            self.on_password_refused = refused

    @property
    def open(self) -> bool:
        """No credential configured: every caller is the platform admin (tests, bare dev)."""
        return self._admin_token is None

    def platform_admin(self) -> Principal:
        return Principal(PLATFORM_ADMIN, DEFAULT_TENANT, Role.ADMIN, PrincipalKind.PLATFORM)

    async def authenticate(self, authorization: str | None) -> Principal:
        if self.open:
            return self.platform_admin()
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            return await self._bearer(credential)
        if scheme.lower() == "basic" and credential:
            return await self._basic(credential)
        raise InvalidCredentials("send `Authorization: Bearer <token>` (or Basic)")

    async def _bearer(self, token: str) -> Principal:
        # bytes, not str: compare_digest refuses non-ASCII text (a 500 for `Bearer tést`)
        presented = token.encode("utf-8", "surrogateescape")
        if self._admin_token is not None and hmac.compare_digest(
            presented, self._admin_token.encode()
        ):
            return self.platform_admin()
        if token.startswith(_tokens.API_TOKEN_PREFIX + "_"):
            return await self._api_token(token)
        if token.count(".") == 2 and self.keys is not None:  # noqa: PLR2004 - a JWS has 3 parts
            return await self._current_user(await self.keys.verify(token))
        raise InvalidCredentials("the token is not valid")

    async def _current_user(self, claimed: Principal) -> Principal:
        """The user an access token names, as stored now: a signature proves who the user
        was when the token was issued, not that it may still act (deleted, disabled, or
        given another role since)."""
        if self.identities is None:
            return claimed
        user = await self.identities.find_user(claimed.credential_id or claimed.subject)
        if user is None or user.tenant_id != claimed.tenant_id:
            raise InvalidCredentials("the access token's user no longer exists")
        if user.disabled:
            raise InvalidCredentials("the access token's user is disabled")
        return Principal(
            subject=user.username,
            tenant_id=user.tenant_id,
            role=Role(user.role),
            kind=PrincipalKind.USER,
            credential_id=user.user_id,
        )

    async def _api_token(self, token: str) -> Principal:
        presented = _tokens.parse(token)
        if presented is None or self.identities is None:
            raise InvalidCredentials("the token is not valid")
        record = await self.identities.find_api_token(presented.id)
        if record is None or not _tokens.matches(presented, record.secret_hash):
            raise InvalidCredentials("the token is not valid")
        if record.revoked_at is not None:
            raise InvalidCredentials("the token was revoked")
        return Principal(
            subject=f"token:{record.name}",
            tenant_id=record.tenant_id,
            role=Role(record.role),
            kind=PrincipalKind.TOKEN,
            credential_id=record.token_id,
        )

    async def _basic(self, credential: str) -> Principal:
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except ValueError as e:  # binascii.Error, UnicodeDecodeError, non-ASCII input
            raise InvalidCredentials("the Basic credential is not valid base64") from e
        username, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidCredentials("the Basic credential needs `user:secret`")
        if secret.startswith(_tokens.API_TOKEN_PREFIX + "_") or (
            self._admin_token is not None
            and hmac.compare_digest(secret.encode(), self._admin_token.encode())
        ):
            return await self._bearer(secret)
        if self.password_limiter is not None:
            await check_password_rate(self.password_limiter, username)
        try:
            principal = await self.check_password(username, secret)  # a wrong one keeps its cost
        except InvalidCredentials:
            if self.on_password_refused is not None:
                await self.on_password_refused(username)
            raise
        if self.password_limiter is not None:
            await return_password_guess(self.password_limiter, username)
        return principal

    async def check_password(self, username: str, password: str) -> Principal:
        """The user's principal if the password matches (constant work when unknown)."""
        if self.identities is None:
            raise InvalidCredentials("the username or password is wrong")
        user = await self.identities.find_user_by_name(username)
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            raise InvalidCredentials("the username or password is wrong")
        return Principal(
            subject=user.username,
            tenant_id=user.tenant_id,
            role=Role(user.role),
            kind=PrincipalKind.USER,
            credential_id=user.user_id,
        )
