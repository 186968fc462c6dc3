"""Login and refresh-token rotation for human users.

A login starts a refresh-token *family*. Each refresh uses the presented token up (once,
atomically in the store) and hands out the next one of the same family. A token presented
a second time means it leaked — either the thief or the user already used it — so the
whole family is revoked: both parties must log in again (OAuth 2.0 Security BCP, 4.14).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.auth import _tokens
from tideflow.auth._errors import InvalidCredentials, RefreshReused
from tideflow.auth._roles import Principal, PrincipalKind, Role
from tideflow.store import RefreshTokenRecord

if TYPE_CHECKING:
    from tideflow.auth._authenticator import Authenticator
    from tideflow.auth._jwt import KeyRing
    from tideflow.store import Identities

REFRESH_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    principal: Principal


class Sessions:
    def __init__(
        self,
        *,
        identities: Identities,
        authenticator: Authenticator,
        keys: KeyRing,
        refresh_ttl: timedelta = REFRESH_TTL,
    ) -> None:
        self._identities = identities
        self._authenticator = authenticator
        self._keys = keys
        self._refresh_ttl = refresh_ttl

    async def login(self, username: str, password: str) -> TokenPair:
        principal = await self._authenticator.check_password(username, password)
        return await self._issue(principal, family_id=secrets.token_hex(8))

    async def refresh(self, refresh_token: str, now: datetime | None = None) -> TokenPair:
        now = now or datetime.now(UTC)
        presented = _tokens.parse(refresh_token, _tokens.REFRESH_TOKEN_PREFIX)
        if presented is None:
            raise InvalidCredentials("the refresh token is not valid")
        record = await self._identities.use_refresh_token(presented.id, now)
        if record is None or not _tokens.matches(presented, record.secret_hash):
            raise InvalidCredentials("the refresh token is not valid")
        if record.used_at is not None:
            await self._identities.revoke_refresh_family(record.family_id, now)
            raise RefreshReused("the refresh token was already used; its sessions are revoked")
        if record.revoked_at is not None or record.expires_at <= now:
            raise InvalidCredentials("the refresh token has expired or was revoked")
        user = await self._identities.find_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidCredentials("the user no longer exists")
        principal = Principal(
            user.username, user.tenant_id, Role(user.role), PrincipalKind.USER, user.user_id
        )
        return await self._issue(principal, family_id=record.family_id, now=now)

    async def _issue(
        self, principal: Principal, *, family_id: str, now: datetime | None = None
    ) -> TokenPair:
        now = now or datetime.now(UTC)
        access = await self._keys.issue(principal, now)
        issued = _tokens.issue(_tokens.REFRESH_TOKEN_PREFIX)
        await self._identities.add_refresh_token(
            RefreshTokenRecord(
                token_id=issued.id,
                family_id=family_id,
                user_id=principal.credential_id or principal.subject,
                tenant_id=principal.tenant_id,
                secret_hash=issued.secret_hash,
                issued_at=now,
                expires_at=now + self._refresh_ttl,
            )
        )
        return TokenPair(
            access, issued.token, int(self._keys.access_ttl.total_seconds()), principal
        )
