"""Webhook signing secrets by name, per tenant, resolved at request time.

`StoredSecrets` reads the tenant's envelope-encrypted secrets (`tideflow.auth.Secrets`,
what `PUT /secrets/{name}` writes; `TIDEFLOW_SECRET_<NAME>` stays a fallback for the
default tenant). `EnvironmentSecrets` reads only the environment (tests, bare setups).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tideflow.auth import Secrets

PREFIX = "TIDEFLOW_SECRET_"


class SecretSource(Protocol):
    async def get(self, tenant_id: str, name: str) -> str | None:
        """The secret's value, or None when it does not exist."""
        ...


class EnvironmentSecrets:
    """`TIDEFLOW_SECRET_UPLOAD_HOOK=...` is the secret `UPLOAD_HOOK` (any case)."""

    async def get(self, tenant_id: str, name: str) -> str | None:  # noqa: ARG002 - one tenant
        return os.environ.get(PREFIX + name) or os.environ.get(PREFIX + name.upper())


class StoredSecrets:
    """The tenant's stored secrets, decrypted on use."""

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets

    async def get(self, tenant_id: str, name: str) -> str | None:
        found = await self._secrets.resolve(tenant_id, [name])
        return found.get(name)
