"""A room member's credential, checked again for as long as its WebSocket lasts.

A join proves the caller once, and an editing session then lasts hours. So every member's
credential is authenticated again every `recheck_every`, exactly as a request would be (a
revoked API token, a deleted or disabled user, a user given another role all fail or
change), and the connection of a JWT access token is closed the moment the token expires.
One check per member per interval, whatever the member sends: the cost is bounded. When
the identity store tells of a change to the credential (`Identities.watch_credential`:
Postgres NOTIFY at the commit), the check is made at once instead of at the interval.

How a session ends (close code, reason), for the client to act on:
- `4401 TOKEN_EXPIRED`: the access token expired; join again with a fresh one;
- `4401 UNAUTHENTICATED`: the credential no longer proves anyone (revoked, user deleted
  or disabled);
- `4403 FORBIDDEN`: not even a viewer any more;
- `4403 ROLE_CHANGED`: may now edit, or no longer edit; joining again gives the new rights.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.auth import AuthError, Forbidden, PrincipalKind, RateLimited, Role, TokenExpired
from tideflow.store import StoreError, credential_key

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tideflow.auth import Authenticator, Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ended:
    """Why a member's session ends: the WebSocket close code and reason, and a message."""

    code: int
    reason: str
    message: str


_EXPIRED = Ended(4401, "TOKEN_EXPIRED", "the access token has expired")


def _refused(error: AuthError) -> Ended | None:
    """How a failed check ends the session (None: it goes on)."""
    if isinstance(error, TokenExpired):  # `exp` passed between our clock's read and the verifier's
        return _EXPIRED
    if isinstance(error, Forbidden):
        return Ended(4403, "FORBIDDEN", str(error))
    if isinstance(error, RateLimited):  # this user's password guesses throttled: proven before
        return None
    return Ended(4401, "UNAUTHENTICATED", str(error))


def token_expiry(authorization: str | None) -> float | None:
    """When a bearer JWT expires (its `exp`, epoch seconds); None for other credentials.

    Only reads the claim: the token was verified by the join this follows."""
    scheme, _, token = (authorization or "").partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:  # noqa: PLR2004 - a JWS has 3 parts
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


class SessionAccess:
    """What one member may do, kept current while it stays in the room."""

    def __init__(
        self,
        authenticator: Authenticator,
        authorization: str | None,
        principal: Principal,
        *,
        recheck_every: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._authenticator = authenticator
        self._authorization = authorization
        self.principal = principal
        self._recheck_every = recheck_every
        self._clock = clock
        self.expires_at = (
            token_expiry(authorization) if principal.kind is PrincipalKind.USER else None
        )

    def next_check_in(self) -> float:
        """Seconds until the next check: the interval, or the token's expiry if sooner."""
        wait = self._recheck_every
        if self.expires_at is not None:
            wait = min(wait, self.expires_at - self._clock())
        return max(wait, 0.0)

    async def check(self) -> Ended | None:
        """Authenticate the member again; why its session ends, or None if it goes on."""
        if self.expires_at is not None and self._clock() >= self.expires_at:
            return _EXPIRED
        try:
            now = await self._authenticator.authenticate(self._authorization)
            now.require(Role.VIEWER)
        except AuthError as e:
            return _refused(e)
        except StoreError as e:  # the identity store is away: no reason to drop anyone
            log.warning("collab: cannot check %s again (%s)", self.principal.subject, e)
            return None
        return self._changed(now)

    def _changed(self, now: Principal) -> Ended | None:
        if now.tenant_id != self.principal.tenant_id:
            return Ended(4401, "UNAUTHENTICATED", "the credential names another tenant")
        if now.allows(Role.EDITOR) != self.principal.allows(Role.EDITOR):
            return Ended(4403, "ROLE_CHANGED", f"{now.subject} is now {now.role}: join again")
        return None

    def credential_key(self) -> str | None:
        """The key the identity store notifies when this member's credential changes
        (None: the deployment's admin token, which only a restart changes)."""
        credential = self.principal.credential_id
        if credential is None or self.principal.kind is PrincipalKind.PLATFORM:
            return None
        return credential_key(str(self.principal.kind), credential)

    async def watch(
        self, end: Callable[[Ended], Awaitable[None]], changed: asyncio.Event | None = None
    ) -> None:
        """Check at every interval, at the token's expiry and whenever `changed` is set
        (the identity store says the credential changed), until the session ends."""
        while True:
            if changed is None:
                await asyncio.sleep(self.next_check_in())
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.next_check_in())
                changed.clear()
            ended = await self.check()
            if ended is not None:
                await end(ended)
                return
