"""A rotated refresh token's successor, sealed so only the rotated token itself opens it.

To hand the same successor back to a client that lost the answer to its refresh, the
store must keep it — but never in a form the database alone gives away. The successor is
encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from the *presented* token's
secret, of which the store holds only a hash: reading the table yields nothing usable, and
the holder of the old token gets the successor only through the server's grace-window rule.
Both token ids are bound in as associated data, so a sealed value moved to another row fails
to open.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
_INFO = b"tideflow refresh successor v1"


def _key(secret: str, token_id: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=token_id.encode(), info=_INFO).derive(
        secret.encode()
    )
    return AESGCM(derived)


def _aad(token_id: str, successor_id: str) -> bytes:
    return f"{token_id}\x00{successor_id}".encode()


def seal(secret: str, token_id: str, successor_id: str, successor: str) -> bytes:
    """The successor token sealed to the secret of token `token_id`."""
    nonce = secrets.token_bytes(_NONCE)
    body = _key(secret, token_id).encrypt(nonce, successor.encode(), _aad(token_id, successor_id))
    return nonce + body


def open_sealed(secret: str, token_id: str, successor_id: str, sealed: bytes) -> str | None:
    """The successor token, or None when `secret` is not the one it was sealed to."""
    try:
        plain = _key(secret, token_id).decrypt(
            sealed[:_NONCE], sealed[_NONCE:], _aad(token_id, successor_id)
        )
    except InvalidTag:
        return None
    return plain.decode()
