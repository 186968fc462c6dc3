"""Login and refresh-token rotation for human users.

A login starts a refresh-token *family*. Each refresh uses the presented token up (once,
atomically in the store) and hands out its one successor. A used token presented again
within a short grace window (`reuse_grace`) is a client that lost the answer to its refresh
— a page reloaded while the request was in flight, two tabs refreshing at once — and gets
the same successor back with a fresh access token: the family never branches. Presented
after the window (or once its successor was used) it means the token leaked — either the
thief or the user already used it — so the whole family is revoked: both parties must log in
again (OAuth 2.0 Security BCP, 4.14; the "reuse interval" of Auth0, Okta's grace period).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.auth import _successor, _tokens
from tideflow.auth._errors import InvalidCredentials, RefreshReused
from tideflow.auth._roles import Principal, PrincipalKind, Role
from tideflow.store import RefreshOutcome, RefreshTokenRecord

if TYPE_CHECKING:
    from tideflow.auth._authenticator import Authenticator
    from tideflow.auth._jwt import KeyRing
    from tideflow.store import Identities

REFRESH_TTL = timedelta(days=7)
REUSE_GRACE = timedelta(seconds=10)
"""Long enough for a reload (or a second tab) to present the token again after the server
rotated it; short enough that a leaked, already used token is worth almost nothing."""


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
        reuse_grace: timedelta = REUSE_GRACE,
    ) -> None:
        self._identities = identities
        self._authenticator = authenticator
        self._keys = keys
        self._refresh_ttl = refresh_ttl
        self._reuse_grace = reuse_grace

    async def login(self, username: str, password: str) -> TokenPair:
        principal = await self._authenticator.check_password(username, password)
        now = datetime.now(UTC)
        issued, record = self._new_refresh(principal, secrets.token_hex(8), now)
        await self._identities.add_refresh_token(record)
        return await self._pair(principal, issued.token, now)

    async def refresh(self, refresh_token: str, now: datetime | None = None) -> TokenPair:
        now = now or datetime.now(UTC)
        presented = _tokens.parse(refresh_token, _tokens.REFRESH_TOKEN_PREFIX)
        if presented is None:
            raise InvalidCredentials("the refresh token is not valid")
        # The secret is checked before anything changes: knowing a token's id alone (it is
        # not secret) must not let anyone use the token up or revoke its family.
        record = await self._identities.find_refresh_token(presented.id)
        if record is None or not _tokens.matches(presented, record.secret_hash):
            raise InvalidCredentials("the refresh token is not valid")
        principal = await self._principal_of(record)
        issued, successor = self._new_refresh(principal, record.family_id, now)
        sealed = _successor.seal(presented.secret, record.token_id, issued.id, issued.token)
        rotation = await self._identities.rotate_refresh_token(
            record.token_id, successor, sealed, at=now, reuse_grace=self._reuse_grace
        )
        if rotation.outcome is RefreshOutcome.ROTATED:
            return await self._pair(principal, issued.token, now)
        if rotation.outcome is RefreshOutcome.REUSED:
            raise RefreshReused(
                "the refresh token was already used; its sessions are revoked",
                subject=principal.subject,
                tenant_id=principal.tenant_id,
            )
        token = rotation.token
        if rotation.outcome is RefreshOutcome.REPLAYED and token and token.successor_sealed:
            again = _successor.open_sealed(
                presented.secret, token.token_id, token.successor_id or "", token.successor_sealed
            )
            if again is not None:
                return await self._pair(principal, again, now)
        raise InvalidCredentials("the refresh token has expired or was revoked")

    async def _principal_of(self, record: RefreshTokenRecord) -> Principal:
        user = await self._identities.find_user(record.user_id)
        if user is None or user.disabled:
            raise InvalidCredentials("the user no longer exists")
        return Principal(
            user.username, user.tenant_id, Role(user.role), PrincipalKind.USER, user.user_id
        )

    def _new_refresh(
        self, principal: Principal, family_id: str, now: datetime
    ) -> tuple[_tokens.IssuedToken, RefreshTokenRecord]:
        issued = _tokens.issue(_tokens.REFRESH_TOKEN_PREFIX)
        record = RefreshTokenRecord(
            token_id=issued.id,
            family_id=family_id,
            user_id=principal.credential_id or principal.subject,
            tenant_id=principal.tenant_id,
            secret_hash=issued.secret_hash,
            issued_at=now,
            expires_at=now + self._refresh_ttl,
        )
        return issued, record

    async def _pair(self, principal: Principal, refresh_token: str, now: datetime) -> TokenPair:
        access = await self._keys.issue(principal, now)
        return TokenPair(
            access, refresh_token, int(self._keys.access_ttl.total_seconds()), principal
        )
