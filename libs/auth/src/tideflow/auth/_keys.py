"""Key-encryption-key (KEK) providers: they wrap and unwrap data keys, never see secrets.

`LocalKeyFile` keeps KEKs in a JSON file (0600) for `tide dev` and single-node installs;
`AwsKms` asks AWS KMS (through aioboto3) so the KEK never leaves the HSM. Both keep old
KEKs usable for unwrapping after a rotation, which is what lets `rotate` + re-wrap run
while the service keeps serving: a data key wrapped by either KEK opens at all times.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tideflow.auth._errors import DecryptionFailed, KeyProviderError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

_NONCE = 12


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under KEK `kek_id`."""

    kek_id: str
    blob: bytes


class KeyProvider(Protocol):
    """Wraps data keys under the current KEK and unwraps them under any KEK it knows."""

    @property
    def current_kek_id(self) -> str: ...

    async def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey: ...

    async def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes: ...


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(sorted(context.items())), separators=(",", ":")).encode()


class LocalKeyFile:
    """KEKs in a local JSON file: `{"current": id, "keys": {id: base64 32 bytes}}`.

    Created with one random key (mode 0600) when missing. `rotate()` adds a key and makes
    it current; earlier keys stay for unwrapping until every data key was re-wrapped.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loaded: tuple[str, dict[str, bytes]] | None = None
        self._mtime: int | None = None

    @property
    def _current(self) -> str:
        return self._state()[0]

    @property
    def _keys(self) -> dict[str, bytes]:
        return self._state()[1]

    def _state(self) -> tuple[str, dict[str, bytes]]:
        """Read (or create) the file on first use, so merely wiring a service writes nothing."""
        if self._loaded is None:
            self._loaded = self._load_or_create()
        return self._loaded

    def _load_or_create(self) -> tuple[str, dict[str, bytes]]:
        if not self._path.exists():
            key_id = _new_kek_id()
            self._write(key_id, {key_id: AESGCM.generate_key(bit_length=256)})
        try:
            self._mtime = self._path.stat().st_mtime_ns
            raw: Any = json.loads(self._path.read_text(encoding="utf-8"))
            keys = {str(k): base64.b64decode(v) for k, v in raw["keys"].items()}
            current = str(raw["current"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise KeyProviderError(f"cannot read the key file {self._path}: {e}") from e
        if current not in keys or any(len(k) != 32 for k in keys.values()):  # noqa: PLR2004
            raise KeyProviderError(f"the key file {self._path} is not valid")
        return current, keys

    def _write(self, current: str, keys: dict[str, bytes]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "current": current,
            "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
        }
        temporary = self._path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
        temporary.replace(self._path)

    @property
    def current_kek_id(self) -> str:
        return self._current

    def rotate(self) -> str:
        """Add a new KEK and make it current; returns its id."""
        key_id = _new_kek_id()
        keys = {**self._keys, key_id: AESGCM.generate_key(bit_length=256)}
        self._write(key_id, keys)
        self._loaded = (key_id, keys)
        return key_id

    def _follow_rotation(self) -> None:
        """Wrap with the newest KEK even when another process rotated the file."""
        try:
            changed = self._path.stat().st_mtime_ns != self._mtime
        except OSError:
            changed = False
        if changed:
            self.reload()

    def reload(self) -> None:
        """Pick up a rotation done by another process (e.g. `tide secret rotate`)."""
        self._loaded = self._load_or_create()

    async def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        self._follow_rotation()
        nonce = secrets.token_bytes(_NONCE)
        blob = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, _aad(context))
        return WrappedKey(self._current, nonce + blob)

    async def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        kek = self._keys.get(wrapped.kek_id)
        if kek is None:
            self.reload()
            kek = self._keys.get(wrapped.kek_id)
        if kek is None:
            raise KeyProviderError(f"unknown key-encryption key {wrapped.kek_id}")
        try:
            return AESGCM(kek).decrypt(wrapped.blob[:_NONCE], wrapped.blob[_NONCE:], _aad(context))
        except InvalidTag as e:
            raise DecryptionFailed("the data key does not open under its KEK") from e


def _new_kek_id() -> str:
    return f"local-{secrets.token_hex(6)}"


class AwsKms:
    """AWS KMS: `Encrypt`/`Decrypt` of the data key under a KMS key, with the context bound.

    `key_id` is the KMS key (id, ARN or alias) new data keys are wrapped with; data keys
    wrapped by an earlier key still open, because KMS finds the key in the ciphertext.
    """

    def __init__(
        self,
        key_id: str,
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        import aioboto3  # noqa: PLC0415 - only installs that use KMS pay for importing boto

        self._key_id = key_id
        self._region = region
        self._endpoint = endpoint_url
        self._session = session or aioboto3.Session()

    @property
    def current_kek_id(self) -> str:
        return self._key_id

    def use_key(self, key_id: str) -> None:
        """Wrap new data keys with another KMS key (rotation to a new key)."""
        self._key_id = key_id

    def _client(self) -> Any:
        from aiobotocore.config import AioConfig  # noqa: PLC0415

        # a few quick retries: a KMS outage must surface as an error, not a hung request
        config = AioConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2)
        return self._session.client(
            "kms", region_name=self._region, endpoint_url=self._endpoint, config=config
        )

    async def wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        try:
            async with self._client() as kms:
                answer = await kms.encrypt(
                    KeyId=self._key_id, Plaintext=data_key, EncryptionContext=dict(context)
                )
        except Exception as e:
            raise KeyProviderError(f"KMS refused to wrap a data key: {e}") from e
        return WrappedKey(str(answer["KeyId"]), bytes(answer["CiphertextBlob"]))

    async def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        try:
            async with self._client() as kms:
                answer = await kms.decrypt(
                    CiphertextBlob=wrapped.blob, EncryptionContext=dict(context)
                )
        except Exception as e:
            if "InvalidCiphertext" in str(e):
                raise DecryptionFailed("KMS could not open the data key") from e
            raise KeyProviderError(f"KMS refused to unwrap a data key: {e}") from e
        return bytes(answer["Plaintext"])


def key_provider(
    *,
    key_file: Path,
    kms_key_id: str | None = None,
    kms_region: str = "us-east-1",
    kms_endpoint: str | None = None,
) -> KeyProvider:
    """AWS KMS when a key is configured, else the local key file."""
    if kms_key_id:
        return AwsKms(kms_key_id, region=kms_region, endpoint_url=kms_endpoint)
    return LocalKeyFile(key_file)
