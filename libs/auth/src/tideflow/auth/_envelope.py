"""Envelope encryption of secrets: a fresh AES-256-GCM data key per secret, wrapped by a KEK.

The secret's value is encrypted locally with its own data key; only the 32-byte data key
goes to the KEK provider. The tenant and the secret's name are bound into both layers as
associated data, so a row copied to another tenant or name fails to open instead of
leaking. Re-wrapping (after a KEK rotation) touches only the wrapped data key: the
ciphertext and the value's nonce stay as they are.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tideflow.auth._errors import DecryptionFailed
from tideflow.auth._keys import WrappedKey

if TYPE_CHECKING:
    from tideflow.auth._keys import KeyProvider

ALGORITHM = "AES-256-GCM"
_NONCE = 12


@dataclass(frozen=True, slots=True)
class Sealed:
    """What storage holds for one secret."""

    ciphertext: bytes
    """nonce (12 bytes) + AES-GCM ciphertext and tag."""
    wrapped_key: bytes
    kek_id: str
    algorithm: str = ALGORITHM


def _context(tenant_id: str, name: str) -> dict[str, str]:
    return {"tenant": tenant_id, "secret": name}


def _aad(tenant_id: str, name: str) -> bytes:
    return f"tideflow-secret\x00{tenant_id}\x00{name}".encode()


class Envelope:
    """Seals and opens secret values with a `KeyProvider`."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    async def seal(self, tenant_id: str, name: str, value: str) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE)
        ciphertext = AESGCM(data_key).encrypt(nonce, value.encode(), _aad(tenant_id, name))
        wrapped = await self.provider.wrap(data_key, _context(tenant_id, name))
        return Sealed(nonce + ciphertext, wrapped.blob, wrapped.kek_id)

    async def open(self, tenant_id: str, name: str, sealed: Sealed) -> str:
        context = _context(tenant_id, name)
        data_key = await self.provider.unwrap(
            WrappedKey(sealed.kek_id, sealed.wrapped_key), context
        )
        body = sealed.ciphertext
        try:
            plain = AESGCM(data_key).decrypt(body[:_NONCE], body[_NONCE:], _aad(tenant_id, name))
        except InvalidTag as e:
            raise DecryptionFailed(f"secret {name} does not open") from e
        return plain.decode()

    async def rewrap(self, tenant_id: str, name: str, sealed: Sealed) -> Sealed:
        """The same ciphertext with its data key wrapped by the current KEK."""
        context = _context(tenant_id, name)
        data_key = await self.provider.unwrap(
            WrappedKey(sealed.kek_id, sealed.wrapped_key), context
        )
        wrapped = await self.provider.wrap(data_key, context)
        return Sealed(sealed.ciphertext, wrapped.blob, wrapped.kek_id, sealed.algorithm)
