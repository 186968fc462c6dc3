"""Secrets per tenant: sealed on write, opened only where a step runs, re-wrapped on rotation.

Values are never returned by listing; `resolve` is the one way to plaintext and is meant
for the executor's resolution point (`{{ secrets.NAME }}` of the run's own tenant).
`TIDEFLOW_SECRET_<NAME>` environment variables remain a read-only fallback for the
`default` tenant, so existing `tide dev` setups keep working; a stored secret wins.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tideflow.auth._envelope import Envelope, Sealed
from tideflow.auth._roles import DEFAULT_TENANT
from tideflow.store import NotFound, SecretRecord

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from tideflow.auth._keys import KeyProvider
    from tideflow.store import SecretStore

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ENV_PREFIX = "TIDEFLOW_SECRET_"


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: int
    skipped: int
    """Secrets changed by a concurrent put while re-wrapping (already under the new KEK)."""


def env_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The `TIDEFLOW_SECRET_<NAME>` fallback values, by name."""
    return {k.removeprefix(ENV_PREFIX): v for k, v in environ.items() if k.startswith(ENV_PREFIX)}


class Secrets:
    def __init__(
        self,
        store: SecretStore,
        envelope: Envelope,
        *,
        env_fallback: Mapping[str, str] | None = None,
        cache_seconds: float = 10.0,
    ) -> None:
        self._store = store
        self._envelope = envelope
        self._fallback = dict(env_fallback or {})
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    @property
    def provider(self) -> KeyProvider:
        return self._envelope.provider

    async def put(self, tenant_id: str, name: str, value: str, *, by: str) -> SecretRecord:
        sealed = await self._envelope.seal(tenant_id, name, value)
        now = datetime.now(UTC)
        return await self._store.put_secret(
            SecretRecord(
                tenant_id=tenant_id,
                name=name,
                ciphertext=sealed.ciphertext,
                wrapped_key=sealed.wrapped_key,
                kek_id=sealed.kek_id,
                algorithm=sealed.algorithm,
                version=0,
                created_at=now,
                updated_at=now,
                updated_by=by,
            )
        )

    async def stored(self, tenant_id: str) -> list[SecretRecord]:
        return await self._store.list_secrets(tenant_id=tenant_id)

    async def delete(self, tenant_id: str, name: str) -> None:
        await self._store.delete_secret(name, tenant_id=tenant_id)

    def fallback_names(self, tenant_id: str) -> list[str]:
        return sorted(self._fallback) if tenant_id == DEFAULT_TENANT else []

    async def resolve(self, tenant_id: str, names: Collection[str]) -> dict[str, str]:
        """Plaintext of the named secrets the tenant has (missing names are left out)."""
        found: dict[str, str] = {}
        for name in names:
            try:
                record = await self._store.get_secret(name, tenant_id=tenant_id)
            except NotFound:
                if tenant_id == DEFAULT_TENANT and name in self._fallback:
                    found[name] = self._fallback[name]
                continue
            found[name] = await self._envelope.open(tenant_id, name, _sealed(record))
        return found

    async def secrets(self, tenant_id: str) -> dict[str, str]:
        """Every secret of the tenant in plaintext: the executor's `SecretSource`.

        Cached for a few seconds per tenant, so a burst of steps costs one read and one
        unwrap per secret (a KMS call each) instead of one per step; a change shows up
        within that time. The default tenant also sees the environment fallback, under
        its name and lowercased (`secrets.api_key` for `TIDEFLOW_SECRET_API_KEY`).
        """
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return dict(cached[1])
        found: dict[str, str] = {}
        if tenant_id == DEFAULT_TENANT:
            for name, value in self._fallback.items():
                found[name] = value
                found.setdefault(name.lower(), value)
        for record in await self._store.list_secrets(tenant_id=tenant_id):
            found[record.name] = await self._envelope.open(tenant_id, record.name, _sealed(record))
        self._cache[tenant_id] = (now, found)
        return dict(found)

    async def rewrap_all(self) -> RewrapReport:
        """Re-wrap every data key not under the current KEK; safe while serving."""
        current = self._envelope.provider.current_kek_id
        rewrapped = skipped = 0
        for record in await self._store.all_secrets():
            if record.kek_id == current:
                continue
            sealed = await self._envelope.rewrap(record.tenant_id, record.name, _sealed(record))
            if await self._store.rewrap_secret(
                record.name,
                tenant_id=record.tenant_id,
                version=record.version,
                wrapped_key=sealed.wrapped_key,
                kek_id=sealed.kek_id,
            ):
                rewrapped += 1
            else:
                skipped += 1
        return RewrapReport(rewrapped, skipped)


def _sealed(record: SecretRecord) -> Sealed:
    return Sealed(record.ciphertext, record.wrapped_key, record.kek_id, record.algorithm)
