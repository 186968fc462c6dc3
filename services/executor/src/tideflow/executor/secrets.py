"""Secret values for `secrets.<name>` templates, resolved only here, at execution time.

The core never sees a secret's value: it leaves those templates unresolved and lists where
they are, and the executor fills them in just before the handler runs, with the values of
the run's own tenant. `tide dev` and `tide serve executor` plug the envelope-encrypted
secret store in (`tideflow.auth.Secrets`, which also serves `TIDEFLOW_SECRET_<NAME>` as a
read-only fallback for the default tenant); `EnvironmentSecrets` is the store-less source.
"""

from __future__ import annotations

import os
from typing import Protocol

PREFIX = "TIDEFLOW_SECRET_"


class SecretSource(Protocol):
    async def secrets(self, tenant_id: str) -> dict[str, str]: ...


class EnvironmentSecrets:
    """`TIDEFLOW_SECRET_API_KEY=...` is `secrets.api_key` (and `secrets.API_KEY`)."""

    async def secrets(self, tenant_id: str) -> dict[str, str]:  # noqa: ARG002 - one tenant
        found: dict[str, str] = {}
        for name, value in os.environ.items():
            if name.startswith(PREFIX):
                key = name.removeprefix(PREFIX)
                found[key] = value
                found[key.lower()] = value
        return found
