"""JWT access tokens signed by rotating keys, published as a JWKS.

Keys are ES256 (P-256): small signatures, public halves anyone can verify with. Every key
has a `kid` that the token header names. Rotation makes a new key current; the previous
keys stop signing but keep verifying until the last token they signed has expired
(retired_at + access TTL), then they are deleted. Keys live in the identity store with
their private half sealed by the KEK provider, so every gateway replica signs and
verifies with the same set and a database dump does not yield a signing key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tideflow.auth._envelope import Envelope, Sealed
from tideflow.auth._errors import InvalidCredentials, TokenExpired
from tideflow.auth._roles import Principal, PrincipalKind, Role
from tideflow.store import SigningKeyRecord

if TYPE_CHECKING:
    from tideflow.store import Identities

ALGORITHM = "ES256"
ISSUER = "tideflow"
ACCESS_TTL = timedelta(minutes=15)
ROTATE_EVERY = timedelta(days=1)
_SEAL_TENANT = "_platform"  # the sealing context of signing keys, not a tenant


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None


class KeyRing:
    """Signs access tokens with the current key and verifies with any live key."""

    def __init__(
        self,
        identities: Identities,
        envelope: Envelope,
        *,
        access_ttl: timedelta = ACCESS_TTL,
        rotate_every: timedelta = ROTATE_EVERY,
        reload_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self._identities = identities
        self._envelope = envelope
        self.access_ttl = access_ttl
        self._rotate_every = rotate_every
        self._reload_every = reload_every
        self._keys: dict[str, _Key] = {}
        self._loaded_at: datetime | None = None

    # -- key management -------------------------------------------------------------------

    async def load(self, now: datetime | None = None) -> None:
        """Read the key set from the store (other replicas may have rotated)."""
        now = now or datetime.now(UTC)
        records = await self._identities.signing_keys()
        keys: dict[str, _Key] = {}
        for record in records:
            known = self._keys.get(record.kid)
            if known is not None:
                keys[record.kid] = _Key(
                    known.kid, known.private, known.public_jwk, known.created_at, record.retired_at
                )
                continue
            sealed = Sealed(record.private_key, record.wrapped_key, record.kek_id)
            pem = await self._envelope.open(_SEAL_TENANT, f"jwt:{record.kid}", sealed)
            private = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                continue
            keys[record.kid] = _Key(
                record.kid, private, record.public_jwk, record.created_at, record.retired_at
            )
        self._keys = keys
        self._loaded_at = now

    async def rotate(self, now: datetime | None = None) -> str:
        """Make a new key current; older keys verify until their tokens expired."""
        now = now or datetime.now(UTC)
        private = ec.generate_private_key(ec.SECP256R1())
        kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        sealed = await self._envelope.seal(_SEAL_TENANT, f"jwt:{kid}", pem)
        public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
        public_jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
        record = SigningKeyRecord(
            kid=kid,
            algorithm=ALGORITHM,
            private_key=sealed.ciphertext,
            wrapped_key=sealed.wrapped_key,
            kek_id=sealed.kek_id,
            public_jwk=public_jwk,
            created_at=now,
        )
        await self._identities.add_signing_key(record, retire_others_at=now)
        await self._identities.delete_signing_keys(retired_before=now - self.access_ttl)
        await self.load(now)
        return kid

    async def ensure_current(self, now: datetime | None = None) -> None:
        """Load the keys when stale, and rotate when the current key is old (or missing)."""
        now = now or datetime.now(UTC)
        if self._loaded_at is None or now - self._loaded_at >= self._reload_every:
            await self.load(now)
        current = self._current()
        if current is None or now - current.created_at >= self._rotate_every:
            await self.rotate(now)

    def _may_reload(self, now: datetime) -> bool:
        """At most one reload per second for unknown key ids: made-up `kid`s cannot turn
        every request into a database read."""
        return self._loaded_at is None or now - self._loaded_at >= timedelta(seconds=1)

    def _current(self) -> _Key | None:
        live = [k for k in self._keys.values() if k.retired_at is None]
        return max(live, key=lambda k: k.created_at) if live else None

    def _verifies(self, key: _Key, now: datetime) -> bool:
        return key.retired_at is None or now < key.retired_at + self.access_ttl

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        """Every key that may still verify a token, for `/.well-known/jwks.json`."""
        now = now or datetime.now(UTC)
        return {"keys": [k.public_jwk for k in self._keys.values() if self._verifies(k, now)]}

    # -- tokens ---------------------------------------------------------------------------

    async def issue(self, principal: Principal, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        await self.ensure_current(now)
        key = self._current()
        if key is None:  # pragma: no cover - ensure_current just made one
            raise InvalidCredentials("no signing key")
        claims = {
            "iss": ISSUER,
            "sub": principal.credential_id or principal.subject,
            "name": principal.subject,
            "tenant": principal.tenant_id,
            "role": principal.role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def verify(self, token: str, now: datetime | None = None) -> Principal:
        now = now or datetime.now(UTC)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise InvalidCredentials("the access token is malformed") from e
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
            raise InvalidCredentials("the access token has no valid key id")
        key = self._keys.get(kid)
        if key is None and self._may_reload(now):
            await self.load(now)  # a replica may have rotated since our last load
            key = self._keys.get(kid)
        if key is None or not self._verifies(key, now):
            raise InvalidCredentials("the access token's signing key is unknown or expired")
        try:
            claims = jwt.decode(
                token,
                key.private.public_key(),
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # expiry is checked below against `now` (the caller's clock, fake in tests)
                options={
                    "require": ["exp", "iat", "sub", "tenant", "role"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as e:
            raise InvalidCredentials("the access token is not valid") from e
        if int(claims["exp"]) <= int(now.timestamp()):
            raise TokenExpired("the access token has expired")
        try:
            role = Role(str(claims["role"]))
        except ValueError as e:
            raise InvalidCredentials("the access token names an unknown role") from e
        return Principal(
            subject=str(claims.get("name") or claims["sub"]),
            tenant_id=str(claims["tenant"]),
            role=role,
            kind=PrincipalKind.USER,
            credential_id=str(claims["sub"]),
        )
