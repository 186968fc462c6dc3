"""Secret values for `secrets.<name>` templates, resolved only here, at execution time.

The core never sees a secret's value: it leaves those templates unresolved and lists where
they are, and the executor fills them in just before the handler runs. Values come from
`TIDEFLOW_SECRET_<NAME>` environment variables until the envelope-encrypted secret store
(tenant integration secrets) is wired in behind the same `SecretSource` port.
"""

from __future__ import annotations

import os
from typing import Protocol

PREFIX = "TIDEFLOW_SECRET_"


class SecretSource(Protocol):
    def secrets(self, tenant_id: str) -> dict[str, str]: ...


class EnvironmentSecrets:
    """`TIDEFLOW_SECRET_API_KEY=...` is `secrets.api_key` (and `secrets.API_KEY`)."""

    def secrets(self, tenant_id: str) -> dict[str, str]:  # noqa: ARG002 - one tenant here
        found: dict[str, str] = {}
        for name, value in os.environ.items():
            if name.startswith(PREFIX):
                key = name.removeprefix(PREFIX)
                found[key] = value
                found[key.lower()] = value
        return found
