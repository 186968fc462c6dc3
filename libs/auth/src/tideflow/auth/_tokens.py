"""Opaque API tokens and refresh tokens: random secrets shown once, stored as hashes.

A token reads `tfk_<id>_<secret>` (refresh tokens `tfr_...`): the id finds the row in one
indexed lookup, the secret (32 random bytes) is compared by its SHA-256 in constant time.
A fast hash is right here, unlike for passwords: the secret has 256 bits of entropy, so
there is nothing to brute-force, and checking must cost microseconds on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

API_TOKEN_PREFIX = "tfk"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX = "tfr"  # noqa: S105


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly minted token: `token` goes to the caller once, `secret_hash` to storage."""

    id: str
    token: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class PresentedToken:
    id: str
    secret: str


def new_token_id() -> str:
    return secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(prefix: str = API_TOKEN_PREFIX, token_id: str | None = None) -> IssuedToken:
    token_id = token_id or new_token_id()
    secret = secrets.token_urlsafe(32)
    return IssuedToken(token_id, f"{prefix}_{token_id}_{secret}", hash_secret(secret))


def parse(token: str, prefix: str = API_TOKEN_PREFIX) -> PresentedToken | None:
    """The id and secret of a well-formed token of this kind, else None."""
    head, sep, rest = token.partition("_")
    if head != prefix or not sep:
        return None
    token_id, sep, secret = rest.partition("_")
    if not sep or not token_id or not secret or not token_id.isalnum():
        return None
    return PresentedToken(token_id, secret)


def matches(presented: PresentedToken, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(presented.secret), secret_hash)
